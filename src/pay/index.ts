/**
 * WeChat Pay: the v3 client (`PayV3`), and the legacy v2 client (`PayV2`) for merchants still on
 * the XML API.
 */
export * from './v2/index.js';
export * from './v3/index.js';
