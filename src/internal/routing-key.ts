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
