/**
 * Mini Program server-API security (服务端 API 安全鉴权): the AES-256-GCM / RSASSA-PSS primitives
 * and the `Wechatmp-*` request/response envelope built on them. This file only gathers them.
 */

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
