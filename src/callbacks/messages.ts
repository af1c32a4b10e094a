/**
 * The messages and events WeChat pushes, as TypeScript interfaces with the wire's own field names.
 * Every value is a string, exactly as sent (XML text; JSON numbers keep their digits, so a 19-digit
 * `MsgId` is never rounded). Field lists follow the official "接收普通消息" / "接收事件推送" pages and
 * the Open Platform "授权事件" page; fields WeChat adds later still arrive, typed as unknown extras.
 */
/** Fields every Official Account / Mini Program push carries. */
export interface MessageBase {
  /** The account's original id (`gh_…`) — the receiver. */
  ToUserName: string;
  /** The sender's openid. */
  FromUserName: string;
  /** Unix seconds, as a decimal string. */
  CreateTime: string;
  MsgType: string;
  /** Only Open Platform events carry one. */
  InfoType?: undefined;
  /** WeCom (企业微信) pushes: the app (agent) the push is for. */
  AgentID?: string;
}

/** A user message (not an event): it carries a `MsgId`. */
interface UserMessageBase extends MessageBase {
  MsgId: string;
  /** Set when the message came from an article comment (消息的数据ID). */
  MsgDataId?: string;
  Idx?: string;
}

export interface TextMessage extends UserMessageBase {
  MsgType: 'text';
  Content: string;
}

export interface ImageMessage extends UserMessageBase {
  MsgType: 'image';
  PicUrl: string;
  MediaId: string;
}

export interface VoiceMessage extends UserMessageBase {
  MsgType: 'voice';
  MediaId: string;
  /** `amr`, `speex`, … */
  Format: string;
  /** Speech recognition result, when enabled. */
  Recognition?: string;
  MediaId16K?: string;
}

export interface VideoMessage extends UserMessageBase {
  MsgType: 'video';
  MediaId: string;
  ThumbMediaId: string;
}

export interface ShortVideoMessage extends UserMessageBase {
  MsgType: 'shortvideo';
  MediaId: string;
  ThumbMediaId: string;
}

export interface LocationMessage extends UserMessageBase {
  MsgType: 'location';
  Location_X: string;
  Location_Y: string;
  Scale: string;
  Label: string;
}

export interface LinkMessage extends UserMessageBase {
  MsgType: 'link';
  Title: string;
  Description: string;
  Url: string;
}

/** A Mini Program card a user sent to the Mini Program's customer service (小程序客服消息 卡片). */
export interface MiniProgramPageMessage extends UserMessageBase {
  MsgType: 'miniprogrampage';
  Title: string;
  AppId: string;
  PagePath: string;
  ThumbUrl: string;
  ThumbMediaId: string;
}

/** Any event push (`MsgType` `event`). */
export interface EventBase extends MessageBase {
  MsgType: 'event';
  Event: string;
}

/** Follow (关注), possibly by scanning a parametric QR code (`EventKey` `qrscene_…`, `Ticket`). */
export interface SubscribeEvent extends EventBase {
  Event: 'subscribe';
  EventKey?: string;
  Ticket?: string;
}

export interface UnsubscribeEvent extends EventBase {
  Event: 'unsubscribe';
  EventKey?: string;
}

/** An already-following user scanned a parametric QR code. */
export interface ScanEvent extends EventBase {
  Event: 'SCAN';
  EventKey: string;
  Ticket: string;
}

/** Location reported on entering the conversation (上报地理位置). */
export interface LocationEvent extends EventBase {
  Event: 'LOCATION';
  Latitude: string;
  Longitude: string;
  Precision: string;
}

/** A click menu button. */
export interface ClickEvent extends EventBase {
  Event: 'CLICK';
  EventKey: string;
}

/** A link menu button (`EventKey` is the URL). */
export interface ViewEvent extends EventBase {
  Event: 'VIEW';
  EventKey: string;
  MenuId?: string;
}

/** Delivery report of a template message (`Status` `success`, `failed:user block`, …). */
export interface TemplateSendJobFinishEvent extends EventBase {
  Event: 'TEMPLATESENDJOBFINISH';
  /** Note the wire spelling: `MsgID`, not `MsgId`. */
  MsgID: string;
  Status: string;
}

/** One template of a subscribe-message popup. */
export interface SubscribeMsgPopupItem {
  TemplateId: string;
  /** `accept` or `reject`. */
  SubscribeStatusString: string;
  PopupScene: string;
}

/**
 * The user answered a subscribe-message popup. `List` holds one item, or an array when several
 * templates were shown (XML repeats `<List>`); read it with {@link subscribeMsgPopupItems}.
 */
export interface SubscribeMsgPopupEvent extends EventBase {
  Event: 'subscribe_msg_popup_event';
  SubscribeMsgPopupEvent: { List: SubscribeMsgPopupItem | SubscribeMsgPopupItem[] };
}

/** One template whose subscription the user changed in the settings (`accept` / `reject`). */
export interface SubscribeMsgChangeItem {
  TemplateId: string;
  SubscribeStatusString: string;
}

/** The user changed subscribe-message settings (订阅通知 用户管理订阅). `List` as in the popup event. */
export interface SubscribeMsgChangeEvent extends EventBase {
  Event: 'subscribe_msg_change_event';
  SubscribeMsgChangeEvent: { List: SubscribeMsgChangeItem | SubscribeMsgChangeItem[] };
}

/** Delivery report of one subscribe message (`ErrorCode` `0` and `ErrorStatus` `success` when delivered). */
export interface SubscribeMsgSentItem {
  TemplateId: string;
  MsgID: string;
  ErrorCode: string;
  ErrorStatus: string;
}

/** Delivery reports of subscribe messages (订阅通知 发送结果). */
export interface SubscribeMsgSentEvent extends EventBase {
  Event: 'subscribe_msg_sent_event';
  SubscribeMsgSentEvent: { List: SubscribeMsgSentItem | SubscribeMsgSentItem[] };
}

/** Result of a mass send (群发结果). Counts are decimal strings. */
export interface MassSendJobFinishEvent extends EventBase {
  Event: 'MASSSENDJOBFINISH';
  /** The mass send's msg_id (wire spelling `MsgID`). */
  MsgID: string;
  /** `send success`, `send fail`, `err(10001)` … */
  Status: string;
  TotalCount: string;
  FilterCount: string;
  SentCount: string;
  ErrorCount: string;
  [field: string]: unknown;
}

/** A menu button that opens a Mini Program (`EventKey` is the page path). */
export interface ViewMiniProgramEvent extends EventBase {
  Event: 'view_miniprogram';
  EventKey: string;
  MenuId?: string;
}

/** What a scan-code menu button scanned. */
export interface ScanCodeInfo {
  /** `qrcode`, `barcode`, … */
  ScanType: string;
  ScanResult: string;
}

/** A `scancode_push` menu button: the client handled the code; the result is reported here. */
export interface ScanCodePushEvent extends EventBase {
  Event: 'scancode_push';
  EventKey: string;
  ScanCodeInfo: ScanCodeInfo;
}

/** A `scancode_waitmsg` menu button: the client waits for the server's reply ("消息接收中"). */
export interface ScanCodeWaitMsgEvent extends EventBase {
  Event: 'scancode_waitmsg';
  EventKey: string;
  ScanCodeInfo: ScanCodeInfo;
}

/** The pictures a photo menu button sent; `PicList.item` is one item, or an array when several. */
export interface SendPicsInfo {
  Count: string;
  PicList?: { item: { PicMd5Sum: string } | Array<{ PicMd5Sum: string }> };
}

/** A `pic_sysphoto` menu button (system camera). */
export interface PicSysPhotoEvent extends EventBase {
  Event: 'pic_sysphoto';
  EventKey: string;
  SendPicsInfo: SendPicsInfo;
}

/** A `pic_photo_or_album` menu button (camera or album). */
export interface PicPhotoOrAlbumEvent extends EventBase {
  Event: 'pic_photo_or_album';
  EventKey: string;
  SendPicsInfo: SendPicsInfo;
}

/** A `pic_weixin` menu button (WeChat album). */
export interface PicWeixinEvent extends EventBase {
  Event: 'pic_weixin';
  EventKey: string;
  SendPicsInfo: SendPicsInfo;
}

/** A `location_select` menu button: the place the user picked. */
export interface LocationSelectEvent extends EventBase {
  Event: 'location_select';
  EventKey: string;
  SendLocationInfo: {
    Location_X: string;
    Location_Y: string;
    Scale: string;
    Label: string;
    Poiname?: string;
  };
}

/** Mini Program: a user entered the customer-service conversation (进入客服会话). */
export interface UserEnterTempsessionEvent extends EventBase {
  Event: 'user_enter_tempsession';
  /** The `session-from` of the `<button open-type="contact">`, if set. */
  SessionFrom?: string;
}

/**
 * A content-security suggestion (`msg_sec_check`, `wxa_media_check`): `pass`, `review` (may be
 * risky: have a person look) or `risky`. A value WeChat adds later still arrives, as a string.
 */
export type ContentSuggest = 'pass' | 'review' | 'risky';

/**
 * The overall verdict of a `wxa_media_check` push (综合结果). Numbers arrive as their digits:
 * `label` is `'100'` (normal), `'20001'` (时政), `'20002'` (色情), `'20006'` (违法犯罪), `'21000'` (other).
 */
export interface WxaMediaCheckResult {
  suggest: ContentSuggest | (string & {});
  label: string;
}

/** One strategy's result in a `wxa_media_check` push (详细检测结果). */
export interface WxaMediaCheckDetail {
  /** The strategy, e.g. `content_model`. */
  strategy?: string;
  /** This item is valid only when `'0'`. */
  errcode?: string;
  suggest?: ContentSuggest | (string & {});
  label?: string;
  /** Confidence 0–100 that `label` applies. */
  prob?: string;
  [field: string]: unknown;
}

/**
 * Mini Program: the verdict of `media_check_async` (多媒体内容安全识别, 异步检测结果推送), pushed
 * within 30 minutes of the request and matched to it by `trace_id`. Version 2 (`version` `'2'`)
 * carries `errcode` (the verdict is valid only when `'0'`; `'-1008'`: WeChat could not download
 * the media), `result` and `detail`; a 1.0 push carries `isrisky`, `extra_info_json` and
 * `status_code` instead. `detail` is one object when an XML push holds one `<detail>`: read it
 * with {@link wxaMediaCheckDetails}. `createContentSecurity` (weixin-kit) matches these pushes to
 * the items it submitted.
 */
export interface WxaMediaCheckEvent extends EventBase {
  Event: 'wxa_media_check';
  /** The Mini Program's appid. */
  appid: string;
  /** The `trace_id` that `media_check_async` answered. */
  trace_id: string;
  version?: string;
  errcode?: string;
  errmsg?: string;
  result?: WxaMediaCheckResult;
  detail?: WxaMediaCheckDetail | WxaMediaCheckDetail[];
  /** 1.0: `'1'` risky, `'0'` no risk found. */
  isrisky?: string;
  extra_info_json?: string;
  /** 1.0: `'0'`, or `'4294966288'` (-1008) when the media could not be downloaded. */
  status_code?: string;
  [field: string]: unknown;
}

/**
 * Open Platform: the review of a Mini Program's code passed (代码审核结果推送), pushed to the
 * platform's message URL for that account. `ToUserName` is the Mini Program's original id.
 */
export interface WeappAuditSuccessEvent extends EventBase {
  Event: 'weapp_audit_success';
  /** Unix seconds of the approval. */
  SuccTime: string;
}

/** Open Platform: the review of a Mini Program's code failed; `Reason` says why. */
export interface WeappAuditFailEvent extends EventBase {
  Event: 'weapp_audit_fail';
  Reason: string;
  /** Unix seconds of the rejection. */
  FailTime: string;
  /** Screenshots of the rejection: media_ids separated by `|`. */
  ScreenShot?: string;
}

/** Open Platform: the review of a Mini Program's code was postponed; `Reason` says why. */
export interface WeappAuditDelayEvent extends EventBase {
  Event: 'weapp_audit_delay';
  Reason: string;
  /** Unix seconds of the postponement. */
  DelayTime: string;
}

/** WeCom: a member opened the app (进入应用). */
export interface EnterAgentEvent extends EventBase {
  Event: 'enter_agent';
  EventKey?: string;
  AgentID: string;
}

/**
 * WeCom: the directory changed (通讯录变更). `ChangeType` tells what: `create_user`,
 * `update_user`, `delete_user`, `create_party`, `update_party`, `delete_party`, `update_tag`; the
 * other fields depend on it. `FromUserName` is `sys`.
 */
export interface ChangeContactEvent extends EventBase {
  Event: 'change_contact';
  ChangeType: string;
  UserID?: string;
  [field: string]: unknown;
}

/** Fields of every Open Platform (third-party platform) authorisation event. */
export interface ComponentEventBase {
  /** The third-party platform's component AppID. */
  AppId: string;
  CreateTime: string;
  InfoType: string;
  /** Open Platform events carry no MsgType (that is how they are told apart). */
  MsgType?: undefined;
}

/** Pushed every 10 minutes; persist the ticket (valid 12 h) to obtain component_access_token. */
export interface ComponentVerifyTicketEvent extends ComponentEventBase {
  InfoType: 'component_verify_ticket';
  ComponentVerifyTicket: string;
}

/** An account authorised the platform (`authorized`), or changed its grants (`updateauthorized`). */
export interface AuthorizedEvent extends ComponentEventBase {
  InfoType: 'authorized' | 'updateauthorized';
  AuthorizerAppid: string;
  AuthorizationCode: string;
  AuthorizationCodeExpiredTime: string;
  PreAuthCode: string;
}

export interface UpdateAuthorizedEvent extends AuthorizedEvent {
  InfoType: 'updateauthorized';
}

/** An account revoked the platform's authorisation. */
export interface UnauthorizedEvent extends ComponentEventBase {
  InfoType: 'unauthorized';
  AuthorizerAppid: string;
}

/**
 * WeCom third-party apps: the suite_ticket pushed every 10 minutes to the instruction callback
 * (指令回调). It carries `SuiteId` and `TimeStamp`, not `AppId` / `CreateTime`.
 */
export interface SuiteTicketEvent {
  SuiteId: string;
  InfoType: 'suite_ticket';
  TimeStamp: string;
  SuiteTicket: string;
  MsgType?: undefined;
}

/** Fields of every WeCom third-party authorisation event (授权通知事件, instruction callback). */
export interface SuiteAuthEventBase {
  /** The third-party app's SuiteId (or 代开发 template id). */
  SuiteId: string;
  InfoType: string;
  /** Unix seconds, as a decimal string. */
  TimeStamp: string;
  MsgType?: undefined;
  [field: string]: unknown;
}

/** A company installed the app (授权成功通知): exchange `AuthCode` (10 min, single use) for its permanent code. */
export interface SuiteCreateAuthEvent extends SuiteAuthEventBase {
  InfoType: 'create_auth';
  AuthCode: string;
  /** The `state` of the install link, when it had one. */
  State?: string;
}

/** A company changed what the app may see or do (变更授权通知). */
export interface SuiteChangeAuthEvent extends SuiteAuthEventBase {
  InfoType: 'change_auth';
  AuthCorpId: string;
  State?: string;
}

/** A company cancelled the authorisation (取消授权通知): forget its data. */
export interface SuiteCancelAuthEvent extends SuiteAuthEventBase {
  InfoType: 'cancel_auth';
  AuthCorpId: string;
}

/**
 * The routing table: every routing key weixin-kit knows (`MsgType`, `event.<Event>` for events,
 * or `InfoType` for Open Platform events) and the message type it delivers. `event` catches every
 * event without a handler of its own; `*` catches everything unhandled. A key that is not here is
 * routed only through `onCustom(key, handler)`, so a typo such as `on('event.subscibe', …)` does
 * not compile.
 */
export interface CallbackMessageMap {
  // user messages (OA 接收普通消息; WeCom 接收消息 share these)
  text: TextMessage;
  image: ImageMessage;
  voice: VoiceMessage;
  video: VideoMessage;
  shortvideo: ShortVideoMessage;
  location: LocationMessage;
  link: LinkMessage;
  /** Mini Program customer service: a Mini Program card. */
  miniprogrampage: MiniProgramPageMessage;
  // Official Account events
  'event.subscribe': SubscribeEvent;
  'event.unsubscribe': UnsubscribeEvent;
  'event.SCAN': ScanEvent;
  'event.LOCATION': LocationEvent;
  'event.CLICK': ClickEvent;
  'event.VIEW': ViewEvent;
  'event.view_miniprogram': ViewMiniProgramEvent;
  'event.scancode_push': ScanCodePushEvent;
  'event.scancode_waitmsg': ScanCodeWaitMsgEvent;
  'event.pic_sysphoto': PicSysPhotoEvent;
  'event.pic_photo_or_album': PicPhotoOrAlbumEvent;
  'event.pic_weixin': PicWeixinEvent;
  'event.location_select': LocationSelectEvent;
  'event.TEMPLATESENDJOBFINISH': TemplateSendJobFinishEvent;
  'event.MASSSENDJOBFINISH': MassSendJobFinishEvent;
  'event.subscribe_msg_popup_event': SubscribeMsgPopupEvent;
  'event.subscribe_msg_change_event': SubscribeMsgChangeEvent;
  'event.subscribe_msg_sent_event': SubscribeMsgSentEvent;
  // Mini Program events
  'event.user_enter_tempsession': UserEnterTempsessionEvent;
  'event.wxa_media_check': WxaMediaCheckEvent;
  // Open Platform: code review results of an authorised Mini Program
  'event.weapp_audit_success': WeappAuditSuccessEvent;
  'event.weapp_audit_fail': WeappAuditFailEvent;
  'event.weapp_audit_delay': WeappAuditDelayEvent;
  // WeCom events
  'event.enter_agent': EnterAgentEvent;
  'event.change_contact': ChangeContactEvent;
  // Open Platform authorisation events, WeCom instruction callbacks
  component_verify_ticket: ComponentVerifyTicketEvent;
  authorized: AuthorizedEvent & { InfoType: 'authorized' };
  unauthorized: UnauthorizedEvent;
  updateauthorized: UpdateAuthorizedEvent;
  suite_ticket: SuiteTicketEvent;
  create_auth: SuiteCreateAuthEvent;
  change_auth: SuiteChangeAuthEvent;
  cancel_auth: SuiteCancelAuthEvent;
  // fallbacks
  event: EventBase & Record<string, unknown>;
  '*': InboundMessage;
}

/** A routing key with a typed handler slot: `text`, `event.subscribe`, `component_verify_ticket`, `*`, … */
export type CallbackMessageType = keyof CallbackMessageMap;

// A Record over the map's keys: adding a key to the map without listing it here does not compile.
const KNOWN_KEYS: Record<CallbackMessageType, true> = {
  text: true,
  image: true,
  voice: true,
  video: true,
  shortvideo: true,
  location: true,
  link: true,
  miniprogrampage: true,
  'event.subscribe': true,
  'event.unsubscribe': true,
  'event.SCAN': true,
  'event.LOCATION': true,
  'event.CLICK': true,
  'event.VIEW': true,
  'event.view_miniprogram': true,
  'event.scancode_push': true,
  'event.scancode_waitmsg': true,
  'event.pic_sysphoto': true,
  'event.pic_photo_or_album': true,
  'event.pic_weixin': true,
  'event.location_select': true,
  'event.TEMPLATESENDJOBFINISH': true,
  'event.MASSSENDJOBFINISH': true,
  'event.subscribe_msg_popup_event': true,
  'event.subscribe_msg_change_event': true,
  'event.subscribe_msg_sent_event': true,
  'event.user_enter_tempsession': true,
  'event.wxa_media_check': true,
  'event.weapp_audit_success': true,
  'event.weapp_audit_fail': true,
  'event.weapp_audit_delay': true,
  'event.enter_agent': true,
  'event.change_contact': true,
  component_verify_ticket: true,
  authorized: true,
  unauthorized: true,
  updateauthorized: true,
  suite_ticket: true,
  create_auth: true,
  change_auth: true,
  cancel_auth: true,
  event: true,
  '*': true,
};

/** Every routing key with a typed handler slot, for checks at run time (JavaScript callers). */
export const CALLBACK_MESSAGE_TYPES: readonly CallbackMessageType[] = Object.freeze(
  Object.keys(KNOWN_KEYS) as CallbackMessageType[],
);

/** True when `key` is one of {@link CALLBACK_MESSAGE_TYPES}. */
export function isCallbackMessageType(key: string): key is CallbackMessageType {
  return Object.hasOwn(KNOWN_KEYS, key);
}

/** Every message with a typed interface. */
export type KnownMessage =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | ShortVideoMessage
  | LocationMessage
  | LinkMessage
  | MiniProgramPageMessage
  | SubscribeEvent
  | UnsubscribeEvent
  | ScanEvent
  | LocationEvent
  | ClickEvent
  | ViewEvent
  | ViewMiniProgramEvent
  | ScanCodePushEvent
  | ScanCodeWaitMsgEvent
  | PicSysPhotoEvent
  | PicPhotoOrAlbumEvent
  | PicWeixinEvent
  | LocationSelectEvent
  | TemplateSendJobFinishEvent
  | MassSendJobFinishEvent
  | SubscribeMsgPopupEvent
  | SubscribeMsgChangeEvent
  | SubscribeMsgSentEvent
  | UserEnterTempsessionEvent
  | WxaMediaCheckEvent
  | WeappAuditSuccessEvent
  | WeappAuditFailEvent
  | WeappAuditDelayEvent
  | EnterAgentEvent
  | ChangeContactEvent
  | ComponentVerifyTicketEvent
  | AuthorizedEvent
  | UnauthorizedEvent
  | SuiteTicketEvent
  | SuiteCreateAuthEvent
  | SuiteChangeAuthEvent
  | SuiteCancelAuthEvent;

/**
 * What a push decodes to: one of the known messages, or anything else WeChat sends (message types
 * and events weixin-kit has no interface for) as a record of its fields.
 */
export type InboundMessage = KnownMessage | UnknownMessage;

/** A push without a typed interface. `MsgType`, `Event`, `InfoType` tell what it is. */
export interface UnknownMessage {
  MsgType?: string;
  Event?: string;
  InfoType?: string;
  [field: string]: unknown;
}

/**
 * The popup's items as an array, whether one `<List>` or several arrived (or a JSON array).
 *
 * @example
 * on('event.subscribe_msg_popup_event', (msg) => {
 *   for (const item of subscribeMsgPopupItems(msg)) if (item.SubscribeStatusString === 'accept') …
 * });
 */
export function subscribeMsgPopupItems(message: SubscribeMsgPopupEvent): SubscribeMsgPopupItem[] {
  const list = (message.SubscribeMsgPopupEvent as { List?: unknown } | undefined)?.List;
  const items = Array.isArray(list) ? list : list === undefined ? [] : [list];
  return items.filter((item): item is SubscribeMsgPopupItem => typeof item === 'object' && item !== null);
}

/**
 * The `detail` items of a `wxa_media_check` push as an array, whether one `<detail>` arrived, several,
 * or a JSON array.
 *
 * @example
 * on('event.wxa_media_check', (msg) => {
 *   for (const d of wxaMediaCheckDetails(msg)) log.info({ strategy: d.strategy, label: d.label });
 * });
 */
export function wxaMediaCheckDetails(message: WxaMediaCheckEvent): WxaMediaCheckDetail[] {
  const detail: unknown = message.detail;
  const items = Array.isArray(detail) ? detail : detail === undefined ? [] : [detail];
  return items.filter((item): item is WxaMediaCheckDetail => typeof item === 'object' && item !== null);
}
