// Node 20's V8 builds an object literal that starts with a spread of a non-empty object and has
// anything after it (`{ ...a, b }`, `{ ...a, ...b }`), and a copy `{ ...a }` that is given
// properties afterwards, on a slow path: 1-2 µs each, against ~30 ns on Node 22 and 24 (measured:
// bench/profiles/README.md). On the per-request paths below that is a measurable share of a
// request, so they build such objects with Object.assign or literals instead. This test keeps the
// pattern from creeping back into these files, unless the line before it says `spread-ok:` and
// why (a path that is not per request).
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Files whose code runs on every request, notification or API call. */
const HOT_FILES = [
  'src/callbacks/wechat-callback.ts',
  'src/callbacks/pay-notification.ts',
  'src/crypto/pay-v3-notify.ts',
  'src/crypto/pay-v3-verify.ts',
  'src/crypto/pay-v3-aead.ts',
  'src/crypto/message-crypto.ts',
  'src/pay/v3/platform-trust.ts',
  'src/pay/v3/signed-exchange.ts',
  'src/core/api-client.ts',
  'src/internal/reply-fields.ts',
  'src/guard/guard.ts',
  'src/guard/adapters.ts',
  'src/guard/http.ts',
];

/** `file:line: text` of every leading-spread literal with more members, not marked `spread-ok:`. */
function leadingSpreads(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const lines = source.split('\n');
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isObjectLiteralExpression(node) &&
      node.properties.length > 1 &&
      node.properties[0] !== undefined &&
      ts.isSpreadAssignment(node.properties[0])
    ) {
      const line = sf.getLineAndCharacterOfPosition(node.getStart()).line;
      if (!/spread-ok:/.test(lines[line - 1] ?? '')) {
        found.push(`${file}:${line + 1}: ${node.getText().replace(/\s+/g, ' ').slice(0, 100)}`);
      }
    }
    // `const copy = { ...a };` and then `copy.x = …` / `copy[k] = …` in the same block: as slow.
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer !== undefined &&
      ts.isObjectLiteralExpression(node.initializer) &&
      node.initializer.properties.length === 1 &&
      node.initializer.properties[0] !== undefined &&
      ts.isSpreadAssignment(node.initializer.properties[0])
    ) {
      const name = node.name.text;
      const block = node.parent?.parent?.parent;
      let written = false;
      const writes = (n: ts.Node): void => {
        if (
          ts.isBinaryExpression(n) &&
          n.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
          (ts.isPropertyAccessExpression(n.left) || ts.isElementAccessExpression(n.left)) &&
          ts.isIdentifier(n.left.expression) &&
          n.left.expression.text === name
        ) {
          written = true;
        }
        ts.forEachChild(n, writes);
      };
      if (block !== undefined) writes(block);
      const line = sf.getLineAndCharacterOfPosition(node.getStart()).line;
      if (written && !/spread-ok:/.test(lines[line - 1] ?? '')) {
        found.push(
          `${file}:${line + 1}: ${node.getText().replace(/\s+/g, ' ').slice(0, 100)} (then written to)`,
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe('hot paths build objects without a leading spread (slow on Node 20)', () => {
  it('finds the pattern, and lets a marked line through', () => {
    const sample = [
      'const a = { ...x, y: 1 };',
      'const b = { y: 1, ...x };',
      'const c = { ...x };',
      '// spread-ok: built once at startup',
      'const d = { ...x, ...z };',
      'const e = f({ ...g, h });',
      'function k(a: object) {',
      '  const copy = { ...a };',
      '  copy.z = 1;',
      '  const kept = { ...a };',
      '  return [copy, kept];',
      '}',
    ].join('\n');
    expect(leadingSpreads('sample.ts', sample)).toEqual([
      'sample.ts:1: { ...x, y: 1 }',
      'sample.ts:6: { ...g, h }',
      'sample.ts:8: copy = { ...a } (then written to)',
    ]);
  });

  it.each(HOT_FILES)('%s', (file) => {
    expect(leadingSpreads(file, readFileSync(file, 'utf8'))).toEqual([]);
  });
});
