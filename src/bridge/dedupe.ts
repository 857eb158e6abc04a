/**
 * De-duplication of Catchpoint re-deliveries, keyed by (TestId, NodeId, Timestamp). Catchpoint
 * re-sends a push it did not see acknowledged up to 9 times over ~55 minutes, so the window
 * defaults to 2 h. A key is remembered only once its push is safely spooled; a concurrent
 * duplicate waits for the first one's outcome rather than being acknowledged on a promise that
 * might still fail. Memory is bounded by `maxEntries` (oldest forgotten first).
 */
export type DedupeOutcome = { kind: 'new'; settle: (stored: boolean) => void } | { kind: 'duplicate' };

interface Entry {
  expires: number;
  /** Resolves true when the first delivery was stored, false when it failed. */
  pending: Promise<boolean> | undefined;
}

export class Deduper {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  #windowMs: number;

  constructor(windowMs: number, maxEntries = 500_000) {
    this.#windowMs = windowMs;
    this.#maxEntries = maxEntries;
  }

  set windowMs(ms: number) {
    this.#windowMs = ms;
  }

  get size(): number {
    return this.#entries.size;
  }

  async check(key: string, now = Date.now()): Promise<DedupeOutcome> {
    this.#expire(now);
    for (;;) {
      const existing = this.#entries.get(key);
      if (existing === undefined || existing.expires <= now) break;
      if (existing.pending === undefined) return { kind: 'duplicate' };
      const stored = await existing.pending;
      if (stored) return { kind: 'duplicate' };
      // The first delivery failed and was forgotten: this one is new (loop to re-check races).
    }
    let settle!: (stored: boolean) => void;
    const entry: Entry = {
      expires: now + this.#windowMs,
      pending: new Promise<boolean>((resolve) => {
        settle = resolve;
      }),
    };
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return {
      kind: 'new',
      settle: (stored: boolean) => {
        if (stored) entry.pending = undefined;
        else if (this.#entries.get(key) === entry) this.#entries.delete(key);
        settle(stored);
      },
    };
  }

  /** Entries are in insertion order, so expired ones are at the front. */
  #expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expires > now) break;
      if (entry.pending !== undefined) continue;
      this.#entries.delete(key);
    }
  }
}
