/**
 * WeChat Pay API v3 cryptography: request signing, pay parameters, response/notification
 * verification, notification opening, AEAD_AES_256_GCM resources and RSA-OAEP fields.
 * One module per concept; this file only gathers them.
 */
export {
  type DecryptResourceInput,
  decryptResource,
  type EncryptedResource,
  type EncryptResourceInput,
  encryptResource,
} from './pay-v3-aead.js';
export {
  type OpenNotificationOptions,
  openNotification,
  type PayV3Notification,
  type PayV3NotificationEnvelope,
  type PayV3NotificationResource,
} from './pay-v3-notify.js';
export { oaepDecrypt, oaepEncrypt } from './pay-v3-oaep.js';
export {
  type AppPayParams,
  type AppPayParamsOptions,
  type AuthorizationOptions,
  buildAppPayParams,
  buildAuthorization,
  buildJsapiPayParams,
  type JsapiPayParams,
  type JsapiPayParamsOptions,
  type JsapiPaySignInput,
  jsapiPaySign,
  type PayV3MerchantSigner,
  PayV3Signer,
  type PayV3SignerOptions,
  type PayV3SignRequest,
  type PrivateKeyInput,
  type PrivateKeySignerOptions,
  payV3SignatureMessage,
  privateKeySigner,
  type SignAppPayParamsOptions,
  type SignAuthorizationOptions,
  type SignJsapiPayParamsOptions,
  signAppPayParams,
  signAuthorization,
  signJsapiPayParams,
} from './pay-v3-sign.js';
export {
  type CertificateInput,
  type HeadersInput,
  type PayV3SignatureHeaders,
  type PayV3SignatureVerifier,
  PayV3Verifier,
  type PayV3VerifierOptions,
  type PayV3VerifyRequest,
  type PublicKeyInput,
  type VerifyPayV3HeadersOptions,
  type VerifyPayV3SignatureOptions,
  verifyPayV3Headers,
  verifyPayV3Signature,
} from './pay-v3-verify.js';
