import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { WeChatKitError } from '../src/errors.js';

export interface VectorCase {
  id: string;
  kind: string;
  source: string;
  input: Record<string, unknown>;
  expect: { ok: boolean; output?: unknown; error?: string };
}

/** Loads one of the project's vector files (a copy of shared/conformance lives in the repo). */
export function loadVectors(file: string): VectorCase[] {
  return JSON.parse(readFileSync(new URL(`../conformance/vectors/${file}`, import.meta.url), 'utf8'));
}

export function vector<I = Record<string, unknown>>(file: string, id: string): VectorCase & { input: I } {
  const found = loadVectors(file).find((c) => c.id === id);
  if (!found) throw new Error(`no vector ${id} in ${file}`);
  return found as VectorCase & { input: I };
}

/** Asserts that `fn` throws a weixin-kit error with `code`, and returns it. */
export function expectCode(fn: () => unknown, code: string): WeChatKitError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WeChatKitError);
    expect((error as WeChatKitError).code).toBe(code);
    return error as WeChatKitError;
  }
  throw new Error(`expected a ${code} error, but nothing was thrown`);
}

/** A fixed clock at Unix seconds `s`. */
export const at = (s: number) => () => s * 1000;

/** A deterministic "random" source for tests. */
export const fixedRandom = (byte: number) => (size: number) => new Uint8Array(size).fill(byte);
