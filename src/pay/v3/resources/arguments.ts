import { ArgumentError } from '../../../errors.js';

/** Argument checks shared by the Pay v3 resources: a typed error before anything is sent. */

/** The params object of a call. */
export function paramsObject<T>(name: string, value: T): T {
  if (typeof value !== 'object' || value === null) {
    throw new ArgumentError(`${name} must be an object of WeChat Pay's fields`);
  }
  return value;
}

/** A required string field, non-empty. */
export function field(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new ArgumentError(`${name} must be a non-empty string`);
  }
  return value;
}

/** A path segment, encoded. */
export function segment(name: string, value: unknown): string {
  return encodeURIComponent(field(name, value));
}
