/**
 * WeChat XML codec: a fast reader for WeChat's XML subset and a writer for replies and requests.
 *
 * @example
 * import { buildXml, parseXml } from './xml/index.js';
 * const msg = parseXml(body);
 * const reply = buildXml({ ToUserName: msg.FromUserName, MsgType: 'text', Content: 'ok' });
 */
export type { BuildXmlOptions } from './build.js';
export { buildXml } from './build.js';
export type { ParseXmlOptions, XmlNode, XmlValue } from './parse.js';
export { parseXml } from './parse.js';
