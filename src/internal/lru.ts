/**
 * A least-recently-used map of bounded size: reading an entry makes it the most recent; adding one
 * past `maxSize` drops the least recent. No timers: entries leave only by eviction or `delete`.
 */
export class LruMap<K, V> {
  readonly maxSize: number;
  readonly #entries = new Map<K, V>();
  #evictions = 0;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** How many entries were dropped to make room since creation. */
  get evictions(): number {
    return this.#evictions;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    // A Map iterates in insertion order: re-inserting makes the entry the most recent.
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.maxSize) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
      this.#evictions++;
    }
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }
}
