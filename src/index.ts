/**
 * `weixin-kit` — the server side of WeChat: the product clients (Official Account, Mini Program,
 * WeCom, Open Platform, WeChat Pay v3 and v2), the verified callback pipeline and its replies,
 * the token stores, the errors and the client contract types. Every name is listed: nothing
 * under `internal/` or plumbing of the layers is public. Protocol primitives live in
 * `weixin-kit/crypto`, the Redis stores in `weixin-kit/redis`, the emulator in `weixin-kit/emulator`.
 */
export {
  type AllowlistDecision,
  type AllowlistErrorEvent,
  type AllowlistLogFields,
  type AllowlistLogger,
  type AllowlistRefreshEvent,
  type AllowlistRefusedEvent,
  type AllowlistRequest,
  type AllowlistStats,
  CallbackAllowlist,
  type CallbackAllowlistHooks,
  type CallbackAllowlistOptions,
  type CallbackIpSource,
  createCallbackAllowlist,
  DEFAULT_ALLOWLIST_REFRESH_MS,
} from './callbacks/callback-allowlist.js';
export type {
  CallbackErrorEvent,
  CallbackHooks,
  DuplicateEvent,
  LateReplyEvent,
  RefusalCode,
  RefusedEvent,
  SecretFallbackEvent,
} from './callbacks/callback-hooks.js';
export {
  type CallbackLogFields,
  type CallbackLogger,
  type CallbackSource,
  consoleLogger,
} from './callbacks/callback-logger.js';
export {
  type CallbackProduct,
  DEFAULT_REPLY_BUDGET_MS,
  type MessageMode,
  type SharedCallbackOptions,
  type WeChatCallbackOptions,
  type WeComCallbackOptions,
} from './callbacks/callback-options.js';
export {
  type CheckTextParams,
  ContentSecurity,
  type ContentSecurityClient,
  type ContentSecurityOptions,
  type ContentVerdictEvent,
  type ContentVerdictHandler,
  createContentSecurity,
  MAX_CONTENT_ITEM_BYTES,
  type MediaCheckFailedEvent,
  type MediaCheckOutcome,
  type MediaVerdictEvent,
  type SubmitMediaParams,
  type TextVerdict,
  type TextVerdictEvent,
  type UnmatchedMediaCheckEvent,
} from './callbacks/content-security.js';
export {
  type DedupeStore,
  MemoryDedupeStore,
  type MemoryDedupeStoreOptions,
} from './callbacks/dedupe-store.js';
export {
  type AuthorizedEvent,
  CALLBACK_MESSAGE_TYPES,
  type CallbackMessageMap,
  type CallbackMessageType,
  type ChangeContactEvent,
  type ClickEvent,
  type ComponentEventBase,
  type ComponentVerifyTicketEvent,
  type ContentSuggest,
  type EnterAgentEvent,
  type EventBase,
  type ImageMessage,
  type InboundMessage,
  isCallbackMessageType,
  type KnownMessage,
  type LinkMessage,
  type LocationEvent,
  type LocationMessage,
  type LocationSelectEvent,
  type MassSendJobFinishEvent,
  type MessageBase,
  type MiniProgramPageMessage,
  type PicPhotoOrAlbumEvent,
  type PicSysPhotoEvent,
  type PicWeixinEvent,
  type ScanCodeInfo,
  type ScanCodePushEvent,
  type ScanCodeWaitMsgEvent,
  type ScanEvent,
  type SendPicsInfo,
  type ShortVideoMessage,
  type SubscribeEvent,
  type SubscribeMsgChangeEvent,
  type SubscribeMsgChangeItem,
  type SubscribeMsgPopupEvent,
  type SubscribeMsgPopupItem,
  type SubscribeMsgSentEvent,
  type SubscribeMsgSentItem,
  type SuiteAuthEventBase,
  type SuiteCancelAuthEvent,
  type SuiteChangeAuthEvent,
  type SuiteCreateAuthEvent,
  type SuiteTicketEvent,
  subscribeMsgPopupItems,
  type TemplateSendJobFinishEvent,
  type TextMessage,
  type UnauthorizedEvent,
  type UnknownMessage,
  type UnsubscribeEvent,
  type UpdateAuthorizedEvent,
  type UserEnterTempsessionEvent,
  type VideoMessage,
  type ViewEvent,
  type ViewMiniProgramEvent,
  type VoiceMessage,
  type WeappAuditDelayEvent,
  type WeappAuditFailEvent,
  type WeappAuditSuccessEvent,
  type WxaMediaCheckDetail,
  type WxaMediaCheckEvent,
  type WxaMediaCheckResult,
  wxaMediaCheckDetails,
} from './callbacks/messages.js';
export {
  createPayNotificationHandler,
  DEFAULT_PAY_DEDUPE_TTL_MS,
  DEFAULT_PAY_REPLY_BUDGET_MS,
  MAX_PAY_NOTIFICATION_BYTES,
  type PayEventType,
  type PayNotificationEvent,
  type PayNotificationEventMap,
  PayNotificationHandler,
  type PayNotificationHandlerOptions,
  type PayNotificationHooks,
  type PayNotificationListener,
  type PayNotificationVerifier,
  type PayRefundAmount,
  type PayRefundResource,
  type PayTransactionAmount,
  type SlowNotificationEvent,
  type UnhandledNotificationEvent,
} from './callbacks/pay-notification.js';
export {
  type ImageReply,
  isReply,
  MAX_NEWS_ARTICLES,
  type MusicReply,
  type NewsArticle,
  type NewsReply,
  type Reply,
  reply,
  type TextReply,
  type TransferCustomerServiceReply,
  type VideoReply,
  type VoiceReply,
} from './callbacks/replies.js';
export type {
  AdapterProblem,
  CallbackHandler,
  CallbackHeaders,
  CallbackRequest,
  CallbackResponse,
} from './callbacks/types.js';
export {
  type CallbackContext,
  type CallbackMiddleware,
  createWeChatCallback,
  createWeComCallback,
  type HandlerResult,
  MAX_CALLBACK_BODY_BYTES,
  type MessageHandler,
  WeChatCallback,
} from './callbacks/wechat-callback.js';
export { ApiClient, type ApiRequestOptions } from './core/api-client.js';
export { APIPromise } from './core/api-promise.js';
export {
  type AuditFacts,
  type AuditKind,
  AuditLog,
  type AuditOptions,
  type AuditOutcome,
  type AuditRecord,
  createAuditLog,
  PINO_REDACT_PATHS,
} from './core/audit.js';
export type { ClientHooks, ClientOptions, TokenClientOptions } from './core/client-options.js';
export type { ErrorEvent, RequestEvent, ResponseEvent, RetryEvent, TransportHooks } from './core/hooks.js';
export type { Logger } from './core/logger.js';
export type {
  CallbackCheckAction,
  CallbackCheckDns,
  CallbackCheckOperator,
  CallbackCheckParams,
  CallbackCheckPing,
  CallbackCheckResult,
  IpListResult,
  WeChatNetwork,
  WeComNetwork,
} from './core/network.js';
export type {
  QuotaBreakerEvent,
  QuotaBreakerHooks,
  QuotaBreakerOptions,
  QuotaBreakerState,
} from './core/quota-breaker.js';
export { redactText, redactUrl, redactValue } from './core/redact.js';
export type { RequestOptions, ResponseMeta, WithResponse } from './core/request-options.js';
export {
  type SecretInput,
  SecretProvider,
  type SecretProviderOptions,
  type SecretReadReason,
  type SecretRefreshErrorEvent,
  type SecretRefreshEvent,
  secretFrom,
  secretFromEnv,
  secretFromFile,
} from './core/secret-provider.js';
export type {
  SecurityEvent,
  SecurityEventHandler,
  SecurityEventSource,
  SecurityEventType,
} from './core/security-events.js';
export {
  createSecurityReporter,
  type SecurityReporter,
  type SecurityReporterOptions,
  type SecurityReporterStats,
  type SecurityReportFailure,
} from './core/security-reporter.js';
export type {
  TraceAttributes,
  TraceAttributeValue,
  TraceCarrier,
  TraceSpan,
  Tracing,
} from './core/tracing.js';
export type { HttpMethod } from './core/transport.js';
export {
  CredentialConfigError,
  type CredentialErrorCode,
  type CredentialSettings,
} from './credentials/credential-errors.js';
export { MemoryStore, type MemoryStoreOptions } from './credentials/memory-store.js';
export { TokenCooldownError, type TokenCooldownOptions } from './credentials/token-cooldown.js';
export {
  type FetchedToken,
  TokenManager,
  type TokenManagerHooks,
  type TokenManagerOptions,
} from './credentials/token-manager.js';
export type { Lease, StoredToken, TokenKind, TokenStore } from './credentials/token-store.js';
export type { JsSdkConfig } from './crypto/jssdk.js';
export type { PayV3Notification, PayV3NotificationResource } from './crypto/pay-v3-notify.js';
export {
  type AppPayParams,
  type JsapiPayParams,
  type PayV3MerchantSigner,
  type PrivateKeyInput,
  privateKeySigner,
} from './crypto/pay-v3-sign.js';
export type {
  CertificateInput,
  HeadersInput,
  PayV3SignatureVerifier,
  PayV3VerifyRequest,
  PublicKeyInput,
} from './crypto/pay-v3-verify.js';
export {
  ArgumentError,
  ConfigError,
  CryptoError,
  type ErrorCode,
  isWeChatKitError,
  PayloadError,
  QuotaExceededError,
  SecretUnavailableError,
  SignatureError,
  StoreError,
  TransportError,
  WeChatApiError,
  WeChatKitError,
  type WeChatKitErrorOptions,
} from './errors.js';
export type { Clock, RandomSource } from './internal/bytes.js';
export type { TrustProxy } from './internal/client-ip.js';
export type { Scheduler } from './internal/timers.js';
export {
  type CheckSessionParams,
  type Code2SessionParams,
  type Code2SessionResult,
  type ContentSecurityLabel,
  type ContentSecurityScene,
  type GetPhoneNumberParams,
  type MediaCheckAsyncParams,
  type MediaCheckAsyncResult,
  MiniProgram,
  type MiniProgramApiSecurity,
  type MiniProgramOptions,
  MSG_SEC_CHECK_MAX_CHARS,
  type MsgSecCheckDetail,
  type MsgSecCheckParams,
  type MsgSecCheckResult,
  type PhoneInfo,
  type SubscribeMessage,
  type UnlimitedCodeParams,
  type UserRiskRankParams,
  type UserRiskRankResult,
} from './mini-program/mini-program.js';
export {
  createOAuthState,
  type OAuthStateOptions,
  verifyOAuthState,
} from './official-account/oauth-state.js';
export {
  type BatchGetUsersParams,
  type CreateMenuParams,
  type CreateQrcodeParams,
  type CustomMessage,
  type GetMediaParams,
  type GetUserParams,
  type ListUsersParams,
  type MenuButton,
  type OAuthAuthorizeUrlParams,
  type OAuthToken,
  type OAuthUserInfo,
  type OAuthUserInfoParams,
  OfficialAccount,
  type OfficialAccountOptions,
  type QrcodeScene,
  type QrcodeTicket,
  type TemplateMessage,
  type UploadFile,
  type UploadMediaParams,
  type UserInfo,
  type UserLang,
  type UserListPage,
  type WeChatOk,
} from './official-account/official-account.js';
export {
  AUTHORIZER_APPID_STATE,
  AuthorizerCallback,
  type AuthorizerCallbackOptions,
  createAuthorizerCallback,
  DEFAULT_AUTHORIZER_CALLBACK_CACHE_SIZE,
} from './open-platform/authorizer-callback.js';
export {
  type AuditItem,
  type AuditStatus,
  type AuditStatusResult,
  AuthorizerMiniProgram,
  type CommitCodeParams,
  type LatestAuditStatusResult,
  type ModifyDomainParams,
  type ServerDomains,
  type SubmitAuditParams,
  type WxaOk,
} from './open-platform/authorizer-mini-program.js';
export {
  type AuthorizationEventOutcome,
  type AuthorizationInfo,
  type AuthorizationListeners,
  type Authorizer,
  type AuthorizerCacheStats,
  AuthorizerRevokedError,
  type ComponentAuthorizeUrlParams,
  DEFAULT_AUTHORIZER_CACHE_SIZE,
  type ExchangeAuthorizationCodeParams,
  OpenPlatform,
  type OpenPlatformOptions,
  type PreAuthCode,
  RefreshTokenMissingError,
  VerifyTicketMissingError,
} from './open-platform/open-platform.js';
export {
  AUTHORIZER_REFRESH_WINDOW_MS,
  type AuthorizerRefreshOptions,
  AuthorizerRefreshTimeoutError,
  DEFAULT_AUTHORIZER_REFRESH_JITTER_SECONDS,
  DEFAULT_AUTHORIZER_REFRESH_MAX_WAIT_MS,
} from './open-platform/refresh-rate.js';
export {
  type CloseOrderParams,
  PayV2,
  type PayV2Fields,
  type PayV2Options,
  type PayV2PaymentNotification,
  type PayV2RefundNotification,
  type PayV2Request,
  type PayV2Tls,
  payV2NotificationReply,
  type RefundParams,
  type UnifiedOrderParams,
} from './pay/v2/client.js';
export { PayV2Error } from './pay/v2/errors.js';
export {
  type PayParamsInput,
  PayV3,
  type PayV3CommonOptions,
  type PayV3CustomSignerOptions,
  type PayV3Options,
  type PayV3PlatformOptions,
  type PayV3PrivateKeyOptions,
  type PayV3RequestOptions,
  type SensitiveCiphertext,
} from './pay/v3/client.js';
export { BillHashError, PayApiError } from './pay/v3/errors.js';
export { PlatformTrust, type PlatformTrustOptions } from './pay/v3/platform-trust.js';
export { type BillDownloadOptions, PayBills } from './pay/v3/resources/bills.js';
export { PayCertificates } from './pay/v3/resources/certificates.js';
export { PayMedia } from './pay/v3/resources/media.js';
export { PayRefunds } from './pay/v3/resources/refunds.js';
export { PayTransactions } from './pay/v3/resources/transactions.js';
export type {
  AppOrder,
  Bill,
  CreateOrderBase,
  CreateRefund,
  FundFlowBillQuery,
  H5Order,
  JsapiOrder,
  MediaFile,
  NativeOrder,
  OrderAmount,
  OutRefundNoParams,
  OutTradeNoParams,
  PaidTransaction,
  PlatformCertificateEntry,
  PlatformCertificateList,
  Refund,
  RefundStatus,
  TradeBillQuery,
  TradeState,
  Transaction,
  TransactionAmount,
  TransactionIdParams,
} from './pay/v3/types.js';
export {
  type CorpCacheStats,
  CorpNotAuthorizedError,
  DEFAULT_CORP_CACHE_SIZE,
  PERMANENT_CODE_TTL_MS,
  type PermanentCodeInfo,
  SUITE_TICKET_TTL_MS,
  type SuiteAuthAgent,
  type SuiteAuthInfo,
  type SuiteAuthorizationListeners,
  type SuiteAuthorizationOutcome,
  type SuiteInstallUrlParams,
  type SuitePreAuthCode,
  type SuiteSessionInfoParams,
  SuiteTicketMissingError,
  WeComSuite,
  type WeComSuiteOptions,
} from './work/suite.js';
export {
  type GetWorkUserParams,
  Work,
  type WorkMessage,
  type WorkMessageResult,
  type WorkOptions,
  type WorkUser,
} from './work/work.js';
