/**
 * De-duplication of Catchpoint re-deliveries, keyed by (TestId, NodeId, Timestamp). Catchpoint
 * re-sends a push it did not see acknowledged up to 9 times over ~55 minutes, so the window
 * defaults to 2 h. A key is remembered only once its push is safely spooled; a concurrent
 * duplicate waits for the first one's outcome rather than being acknowledged on a promise that
 * might still fail. Memory is bounded by `maxEntries` (oldest forgotten first).
 *
 * A busy bridge keeps the window full (500k keys is two hours at ~70 pushes/s), so the costs
 * are per push at the cap: entries live in an insertion-ordered queue of slots (key, expiry)
 * with a Map from key to its slot, and expiry and eviction advance the queue's head. (Deleting
 * the oldest entries of a Map instead leaves holes that every later walk from its front skips:
 * at the cap that cost tens to hundreds of µs per push, growing until V8 rehashed the table.)
 * An expiry is kept as milliseconds after the first check, a small integer that needs no heap
 * allocation; the promise of a push still being spooled lives apart, only as long as that takes.
 */
export type DedupeOutcome = { kind: 'new'; settle: (stored: boolean) => void } | { kind: 'duplicate' };

export class Deduper {
  /** Key → sequence number of its slot. A slot whose key maps elsewhere (or nowhere) is dead. */
  readonly #slotOf = new Map<string, number>();
  /** Key → resolves true when its first delivery was stored, false when it failed. */
  readonly #pending = new Map<string, Promise<boolean>>();
  /** The queue, oldest first: slot i has sequence number #base + i. */
  #keys: string[] = [];
  #expires: number[] = [];
  #base = 0;
  /** Slots before #head are dead. */
  #head = 0;
  readonly #maxEntries: number;
  #windowMs: number;
  /** Expiries are kept relative to the first `now` seen, so they fit in a small integer. */
  #epoch: number | undefined;

  constructor(windowMs: number, maxEntries = 500_000) {
    this.#windowMs = windowMs;
    this.#maxEntries = maxEntries;
  }

  set windowMs(ms: number) {
    this.#windowMs = ms;
  }

  get size(): number {
    return this.#slotOf.size;
  }

  async check(key: string, now = Date.now()): Promise<DedupeOutcome> {
    this.#epoch ??= now;
    const at = now - this.#epoch;
    this.#expire(at);
    for (;;) {
      const slot = this.#slotOf.get(key);
      if (slot === undefined || this.#expires[slot - this.#base]! <= at) break;
      const pending = this.#pending.get(key);
      if (pending === undefined) return { kind: 'duplicate' };
      const stored = await pending;
      if (stored) return { kind: 'duplicate' };
      // The first delivery failed and was forgotten: this one is new (loop to re-check races).
    }
    let settle!: (stored: boolean) => void;
    const pending = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    // A key seen before moves to the back of the queue; its old slot is dead from now on.
    this.#slotOf.set(key, this.#base + this.#keys.length);
    this.#keys.push(key);
    this.#expires.push(at + this.#windowMs);
    this.#pending.set(key, pending);
    if (this.#slotOf.size > this.#maxEntries) this.#evictOldest();
    this.#compact();
    return {
      kind: 'new',
      settle: (stored: boolean) => {
        if (this.#pending.get(key) === pending) {
          this.#pending.delete(key);
          if (!stored) this.#slotOf.delete(key);
        }
        settle(stored);
      },
    };
  }

  #live(i: number): boolean {
    return this.#slotOf.get(this.#keys[i]!) === this.#base + i;
  }

  /** Forgets expired entries from the oldest on, past pending ones, up to the first unexpired. */
  #expire(at: number): void {
    for (let i = this.#head; i < this.#keys.length; i++) {
      if (this.#live(i)) {
        if (this.#expires[i]! > at) return;
        const key = this.#keys[i]!;
        if (this.#pending.has(key)) continue;
        this.#slotOf.delete(key);
      }
      if (i === this.#head) this.#head++;
    }
  }

  #evictOldest(): void {
    for (let i = this.#head; i < this.#keys.length; i++) {
      if (this.#live(i)) {
        const key = this.#keys[i]!;
        this.#slotOf.delete(key);
        this.#pending.delete(key);
        if (i === this.#head) this.#head++;
        return;
      }
      if (i === this.#head) this.#head++;
    }
  }

  /** Drops dead slots once they outnumber the live ones (amortised O(1) per check). */
  #compact(): void {
    const live = this.#slotOf.size;
    if (this.#keys.length - live <= Math.max(1024, live)) return;
    const keys: string[] = [];
    const expires: number[] = [];
    const base = this.#base + this.#keys.length;
    for (let i = this.#head; i < this.#keys.length; i++) {
      if (!this.#live(i)) continue;
      this.#slotOf.set(this.#keys[i]!, base + keys.length);
      keys.push(this.#keys[i]!);
      expires.push(this.#expires[i]!);
    }
    this.#keys = keys;
    this.#expires = expires;
    this.#base = base;
    this.#head = 0;
  }
}
