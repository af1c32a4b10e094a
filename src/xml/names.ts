/** Element-name rules shared by the XML reader and writer. Internal: not re-exported. */

/** Bit 1: may start a name. Bit 2: may continue a name. ASCII only, per WeChat's element names. */
export const NAME_TABLE = /* @__PURE__ */ (() => {
  const table = new Uint8Array(128);
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 3; // A-Z
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 3; // a-z
  for (let c = 0x30; c <= 0x39; c++) table[c] = 2; // 0-9
  table[0x5f] = 3; // _
  table[0x3a] = 3; // :
  table[0x2d] = 2; // -
  table[0x2e] = 2; // .
  return table;
})();

/**
 * True for names that must never become keys of a plain object built from untrusted input.
 * `__proto__` would replace the prototype on assignment; `constructor` / `prototype` are the other
 * halves of the classic prototype-pollution payload for deep-merge helpers.
 */
export function isReservedXmlName(name: string): boolean {
  const n = name.length;
  return (n === 9 && (name === '__proto__' || name === 'prototype')) || (n === 11 && name === 'constructor');
}

/** True when `name` is an element name weixin-kit reads and writes: `[A-Za-z_:][A-Za-z0-9_:.-]*`. */
export function isXmlName(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  const c0 = name.charCodeAt(0);
  if (c0 >= 128 || (NAME_TABLE[c0]! & 1) === 0) return false;
  for (let i = 1; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || (NAME_TABLE[c]! & 2) === 0) return false;
  }
  return !isReservedXmlName(name);
}
