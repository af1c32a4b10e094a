/**
 * Normalises a certificate serial to WeChat Pay's form: uppercase hex, no leading `00` byte(s)
 * (DER prepends one when the high bit is set), an even number of digits.
 *
 * @example
 * normalizeSerial('00d7ce59d1f522d701'); // 'D7CE59D1F522D701'
 */
export function normalizeSerial(serial: string): string {
  let hex = serial.trim().toUpperCase();
  if (hex.length % 2 === 1) hex = `0${hex}`;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}

/**
 * True when two certificate serials are the same number: compared case-insensitively and
 * ignoring leading zeros, so `00D7CE…`, `d7ce…` and `D7CE…` all match.
 *
 * @example
 * sameSerial('00d7ce59d1f522d701', 'D7CE59D1F522D701'); // true
 */
export function sameSerial(a: string, b: string): boolean {
  const strip = (s: string): string => s.trim().toUpperCase().replace(/^0+/, '');
  return strip(a) === strip(b);
}
