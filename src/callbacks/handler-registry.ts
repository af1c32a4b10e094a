import { ArgumentError } from '../errors.js';

/**
 * Adds `handler` under `type`, refusing an empty type, a non-function and a second handler for
 * the same type — the registration rules shared by WeChat callbacks and Pay notifications.
 */
export function addHandler(handlers: Map<string, unknown>, type: string, handler: unknown): void {
  if (typeof type !== 'string' || type === '')
    throw new ArgumentError('on(type, handler): type must be a non-empty string');
  if (typeof handler !== 'function')
    throw new ArgumentError(`on('${type}', handler): handler must be a function`);
  if (handlers.has(type)) {
    throw new ArgumentError(`on('${type}'): a handler is already registered for this type`);
  }
  handlers.set(type, handler);
}

/**
 * The key of `known` that `key` most likely misspells (ignoring case, at most 2 edits away), for
 * error messages; `undefined` when none is that close.
 */
export function nearestKey<K extends string>(key: string, known: readonly K[]): K | undefined {
  const wanted = key.toLowerCase();
  let best: K | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(wanted, candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `limit`) once every path exceeds `limit - 1`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(
        (previous[j] ?? i) + 1,
        (current[j - 1] ?? i) + 1,
        (previous[j - 1] ?? i) + cost,
      );
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin >= limit) return limit;
    previous = current;
  }
  return Math.min(previous[b.length] ?? limit, limit);
}
