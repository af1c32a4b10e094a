/**
 * `weixin-kit/crypto` — the pure protocol core: signatures, message crypto, Pay v2/v3 signing
 * and verification, AEAD, OAEP, key loading and the WeChat XML codec. No I/O. Every name is
 * listed; helpers the primitives share are not public.
 */
export {
  ArgumentError,
  ConfigError,
  CryptoError,
  type ErrorCode,
  isWeChatKitError,
  PayloadError,
  SignatureError,
  StoreError,
  TransportError,
  WeChatApiError,
  WeChatKitError,
  type WeChatKitErrorOptions,
} from '../errors.js';
export type { Clock, RandomSource } from '../internal/bytes.js';
export { type BuildXmlOptions, buildXml } from '../xml/build.js';
export { type ParseXmlOptions, parseXml, type XmlNode, type XmlValue } from '../xml/parse.js';
export {
  type BuildJsSdkConfigInput,
  buildJsSdkConfig,
  cardSignature,
  type JsSdkConfig,
  type JsSdkSignatureInput,
  jsSdkSignature,
  jsSdkSignedUrl,
} from './jssdk.js';
export {
  certificateSerial,
  type LoadedCertificate,
  loadCertificate,
  loadPrivateKey,
  loadPublicKey,
} from './keys.js';
export {
  decodeEncodingAESKey,
  decryptMessage,
  type EncryptMessageInput,
  encryptMessage,
  MessageCipher,
  type MessageCipherOptions,
} from './message-cipher.js';
export {
  computeMessageSignature,
  type EnvelopeFormat,
  MessageCrypto,
  type MessageCryptoOptions,
  type MessageSignatureInput,
  type OpenedMessage,
  type OpenMessageInput,
  type OpenMessageParams,
  openMessage,
  type SealedMessage,
  type SealOptions,
  verifyMessageSignature,
} from './message-crypto.js';
export {
  checkSessionKeySignature,
  type DecryptMiniProgramDataInput,
  decryptMiniProgramData,
  type MiniProgramOpenData,
  rawDataSignature,
  sessionSignature,
  verifyRawDataSignature,
} from './mini-program.js';
export {
  type MpApiSecurityHeaders,
  type MpHeadersInput,
  type OpenedMpApiRequest,
  type OpenMpApiRequestInput,
  type OpenMpApiResponseInput,
  openMpApiRequest,
  openMpApiResponse,
  type SealedMpApiRequest,
  type SealedMpApiResponse,
  type SealMpApiRequestInput,
  type SealMpApiResponseInput,
  sealMpApiRequest,
  sealMpApiResponse,
} from './mp-api-security-envelope.js';
export {
  type DecryptMpApiBodyInput,
  decryptMpApiBody,
  type EncryptMpApiBodyInput,
  encryptMpApiBody,
  type MpPublicKeyInput,
  type MpSymmetricKeyInput,
  mpApiSecurityAad,
  mpApiSignaturePayload,
  type SignMpApiPayloadInput,
  signMpApiPayload,
  type VerifyMpApiSignatureInput,
  verifyMpApiSignature,
} from './mp-api-security-primitives.js';
export {
  decryptRefundReqInfo,
  type PayV2Params,
  type PayV2SignType,
  payV2StringToSign,
  signPayV2,
  verifyPayV2,
} from './pay-v2.js';
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
export {
  computeServerSignature,
  type ServerSignatureInput,
  verifyServerSignature,
} from './server-signature.js';
export { assertFreshTimestamp, DEFAULT_MAX_SKEW_SECONDS, type FreshnessOptions } from './timestamp.js';
