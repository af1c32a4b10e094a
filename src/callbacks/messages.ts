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
 * The routing table: a routing key (see {@link routingKeyOf}) to the message type it delivers.
 * `event` catches every event without a handler of its own; `*` catches everything unhandled.
 */
export interface CallbackMessageMap {
  text: TextMessage;
  image: ImageMessage;
  voice: VoiceMessage;
  video: VideoMessage;
  shortvideo: ShortVideoMessage;
  location: LocationMessage;
  link: LinkMessage;
  'event.subscribe': SubscribeEvent;
  'event.unsubscribe': UnsubscribeEvent;
  'event.SCAN': ScanEvent;
  'event.LOCATION': LocationEvent;
  'event.CLICK': ClickEvent;
  'event.VIEW': ViewEvent;
  'event.TEMPLATESENDJOBFINISH': TemplateSendJobFinishEvent;
  'event.subscribe_msg_popup_event': SubscribeMsgPopupEvent;
  component_verify_ticket: ComponentVerifyTicketEvent;
  authorized: AuthorizedEvent & { InfoType: 'authorized' };
  unauthorized: UnauthorizedEvent;
  updateauthorized: UpdateAuthorizedEvent;
  event: EventBase & Record<string, unknown>;
  '*': InboundMessage;
}

/** A routing key with a handler slot: `text`, `event.subscribe`, `component_verify_ticket`, `*`, … */
export type CallbackMessageType = keyof CallbackMessageMap;

/** Every message with a typed interface. */
export type KnownMessage =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | ShortVideoMessage
  | LocationMessage
  | LinkMessage
  | SubscribeEvent
  | UnsubscribeEvent
  | ScanEvent
  | LocationEvent
  | ClickEvent
  | ViewEvent
  | TemplateSendJobFinishEvent
  | SubscribeMsgPopupEvent
  | ComponentVerifyTicketEvent
  | AuthorizedEvent
  | UnauthorizedEvent;

/**
 * What a push decodes to: one of the known messages, or anything else WeChat sends (new message
 * types, WeCom, Mini Program events…) as a record of its fields.
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
 * The routing key of a decoded push: `InfoType` for Open Platform events, `event.<Event>` for
 * events, else `MsgType`; `''` when it has none of these.
 *
 * @example
 * routingKeyOf({ MsgType: 'event', Event: 'subscribe' }); // 'event.subscribe'
 */
export function routingKeyOf(message: Readonly<Record<string, unknown>>): string {
  const { MsgType, Event, InfoType } = message;
  if (typeof MsgType === 'string' && MsgType !== '') {
    if (MsgType === 'event') return typeof Event === 'string' ? `event.${Event}` : 'event';
    return MsgType;
  }
  if (typeof InfoType === 'string' && InfoType !== '') return InfoType;
  return '';
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
