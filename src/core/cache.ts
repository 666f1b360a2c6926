/**
 * A small bounded cache for pure functions on the collector's hot path (user agents, IP truncation, UTM fields,
 * URL redaction): values repeat across hits, and computing one costs more than the rest of an event's work.
 * Oldest insertion is evicted first.
 */
export class BoundedCache<V> {
  private readonly map = new Map<string, V>();

  /**
   * @param max entries kept
   * @param maxKeyLength keys longer than this are computed each time rather than pinned in memory
   */
  constructor(
    private readonly max: number,
    private readonly maxKeyLength = Infinity,
  ) {}

  get(key: string, make: (key: string) => V): V {
    if (key.length > this.maxKeyLength) return make(key);
    let value = this.map.get(key);
    if (value === undefined) {
      value = make(key);
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string);
      this.map.set(key, value);
    }
    return value;
  }
}
