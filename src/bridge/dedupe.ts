/**
 * De-duplication of Catchpoint re-deliveries, keyed by (TestId, NodeId, Timestamp). Catchpoint
 * re-sends a push it did not see acknowledged up to 9 times over ~55 minutes, so the window
 * defaults to 2 h. A key is remembered only once its push is safely spooled; a concurrent
 * duplicate waits for the first one's outcome rather than being acknowledged on a promise that
 * might still fail. Memory is bounded by `maxEntries` (oldest forgotten first).
 *
 * A busy bridge keeps the window full (500k keys is two hours at ~70 pushes/s), so the store
 * lives outside the V8 heap: keys are three exact integers in typed arrays (a ring of entries in
 * arrival order, expiry and eviction advancing its head) plus an open-addressing index into the
 * ring. Kept as 500k strings in a Map instead, the keys made every major GC mark them: on the
 * bridge's one core, pauses of 50–100 ms that set its p99 (measured with `npm run bench`), and
 * ~166 bytes per key against ~44 here. Only pushes still being spooled are on the heap.
 *
 * Stored keys also go to a journal on the spool's volume (dedupe-journal.ts) and are restored on
 * start, so the window survives a restart of the process or of the pod on the same volume.
 */
import type { DedupeEntry } from './dedupe-journal.ts';

export type DedupeOutcome = { kind: 'new'; settle: (stored: boolean) => void } | { kind: 'duplicate' };

/** Keys kept at most: two hours at ~70 pushes/s (see above). */
export const DEFAULT_MAX_ENTRIES = 500_000;
/** Entries the ring starts with; it doubles as needed up to maxEntries. */
const INITIAL_CAPACITY = 1024;
const TWO_32 = 4294967296;

/** fmix32 of MurmurHash3 over the three keys' 32-bit halves: the index's slot hash. */
function hashKey(testId: number, nodeId: number, timestampMs: number): number {
  let h = Math.imul(testId >>> 0, 0xcc9e2d51) ^ ((testId / TWO_32) | 0);
  h = Math.imul(h ^ (nodeId >>> 0), 0x1b873593) ^ ((nodeId / TWO_32) | 0);
  h = Math.imul(h ^ (timestampMs >>> 0), 0xcc9e2d51) ^ ((timestampMs / TWO_32) | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class Deduper {
  readonly #maxEntries: number;
  #windowMs: number;
  /** Expiries are kept relative to the first `now` seen. */
  #epoch: number | undefined;

  // The ring: entry with sequence number s is at s % #capacity; live or dead, oldest at #head.
  #capacity = 0;
  #testIds = new Float64Array(0);
  #nodeIds = new Float64Array(0);
  #timestamps = new Float64Array(0);
  #expires = new Float64Array(0);
  #head = 0;
  #tail = 0;

  /** Linear-probing index: ring position + 1 of a live entry, 0 for an empty slot. */
  #index = new Int32Array(0);
  #indexMask = 0;
  #live = 0;

  /** `testId:nodeId:timestamp` → resolves true when its first delivery was stored, false if not. */
  readonly #pending = new Map<string, Promise<boolean>>();

  /** Told of every key once its push is stored (the journal that survives a restart). */
  readonly #onStored: ((testId: number, nodeId: number, timestampMs: number) => void) | undefined;

  constructor(
    windowMs: number,
    maxEntries = DEFAULT_MAX_ENTRIES,
    onStored?: (testId: number, nodeId: number, timestampMs: number) => void,
  ) {
    this.#windowMs = windowMs;
    this.#maxEntries = Math.max(1, Math.floor(maxEntries));
    this.#onStored = onStored;
    this.#resize(Math.min(INITIAL_CAPACITY, this.#maxEntries));
  }

  /**
   * Takes back keys stored before a restart (oldest first), each expiring a window after it was
   * stored. Call before the first check.
   */
  restore(entries: readonly DedupeEntry[], now = Date.now()): void {
    this.#epoch ??= now;
    for (const e of entries) {
      const expires = e.storedAt - this.#epoch + this.#windowMs;
      if (expires <= now - this.#epoch || this.#find(e.testId, e.nodeId, e.timestampMs) >= 0) continue;
      this.#push(e.testId, e.nodeId, e.timestampMs, expires);
    }
  }

  set windowMs(ms: number) {
    this.#windowMs = ms;
  }

  /** Keys remembered (stored or being stored). */
  get size(): number {
    return this.#live;
  }

  async check(testId: number, nodeId: number, timestampMs: number, now = Date.now()): Promise<DedupeOutcome> {
    this.#epoch ??= now;
    const at = now - this.#epoch;
    this.#expire(at);
    const pendingKey = `${testId}:${nodeId}:${timestampMs}`;
    for (;;) {
      const pending = this.#pending.get(pendingKey);
      if (pending === undefined) break;
      if (await pending) return { kind: 'duplicate' };
      // The first delivery failed and was forgotten: look again (another may have started).
    }
    const slot = this.#find(testId, nodeId, timestampMs);
    if (slot >= 0) {
      if (this.#expires[this.#index[slot]! - 1]! > at) return { kind: 'duplicate' };
      this.#removeSlot(slot); // expired, its ring entry not reached by the head yet
    }

    const position = this.#push(testId, nodeId, timestampMs, at + this.#windowMs);

    let settle!: (stored: boolean) => void;
    const pending = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    this.#pending.set(pendingKey, pending);
    return {
      kind: 'new',
      settle: (stored: boolean) => {
        if (this.#pending.get(pendingKey) === pending) this.#pending.delete(pendingKey);
        if (!stored) {
          const s = this.#find(testId, nodeId, timestampMs);
          if (s >= 0 && this.#index[s] === position + 1) this.#removeSlot(s);
        } else this.#onStored?.(testId, nodeId, timestampMs);
        settle(stored);
      },
    };
  }

  /** Appends a key at the ring's tail (growing it, or forgetting the oldest at the cap); returns its position. */
  #push(testId: number, nodeId: number, timestampMs: number, expires: number): number {
    if (this.#tail - this.#head === this.#capacity) {
      if (this.#capacity < this.#maxEntries) this.#resize(Math.min(this.#capacity * 2, this.#maxEntries));
      else this.#evictHead();
    }
    const position = this.#tail % this.#capacity;
    this.#tail++;
    this.#testIds[position] = testId;
    this.#nodeIds[position] = nodeId;
    this.#timestamps[position] = timestampMs;
    this.#expires[position] = expires;
    this.#insert(position);
    return position;
  }

  /** Forgets entries from the oldest on, up to the first unexpired one. */
  #expire(at: number): void {
    while (this.#head < this.#tail && this.#expires[this.#head % this.#capacity]! <= at) this.#evictHead();
  }

  /** Drops the oldest ring entry, and its index slot if the index still points at it. */
  #evictHead(): void {
    const position = this.#head % this.#capacity;
    this.#head++;
    const slot = this.#find(this.#testIds[position]!, this.#nodeIds[position]!, this.#timestamps[position]!);
    if (slot >= 0 && this.#index[slot] === position + 1) this.#removeSlot(slot);
  }

  /** Index slot of a live key, or -1. */
  #find(testId: number, nodeId: number, timestampMs: number): number {
    const mask = this.#indexMask;
    for (let slot = hashKey(testId, nodeId, timestampMs) & mask; ; slot = (slot + 1) & mask) {
      const ref = this.#index[slot]!;
      if (ref === 0) return -1;
      const p = ref - 1;
      if (this.#timestamps[p] === timestampMs && this.#nodeIds[p] === nodeId && this.#testIds[p] === testId) {
        return slot;
      }
    }
  }

  #slotHash(position: number): number {
    return hashKey(this.#testIds[position]!, this.#nodeIds[position]!, this.#timestamps[position]!);
  }

  #insert(position: number): void {
    const mask = this.#indexMask;
    let slot = this.#slotHash(position) & mask;
    while (this.#index[slot] !== 0) slot = (slot + 1) & mask;
    this.#index[slot] = position + 1;
    this.#live++;
  }

  /** Backward-shift deletion: no tombstones, so probe lengths stay short however long it runs. */
  #removeSlot(slot: number): void {
    const mask = this.#indexMask;
    const index = this.#index;
    let hole = slot;
    index[hole] = 0;
    this.#live--;
    for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const home = this.#slotHash(index[next]! - 1) & mask;
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      index[hole] = index[next]!;
      index[next] = 0;
      hole = next;
    }
  }

  /** New ring (entries kept in order from position 0) and a rebuilt index at most half full. */
  #resize(capacity: number): void {
    const count = this.#tail - this.#head;
    const testIds = new Float64Array(capacity);
    const nodeIds = new Float64Array(capacity);
    const timestamps = new Float64Array(capacity);
    const expires = new Float64Array(capacity);
    const live: number[] = [];
    for (let i = 0; i < count; i++) {
      const from = (this.#head + i) % this.#capacity;
      testIds[i] = this.#testIds[from]!;
      nodeIds[i] = this.#nodeIds[from]!;
      timestamps[i] = this.#timestamps[from]!;
      expires[i] = this.#expires[from]!;
      const slot = this.#find(testIds[i]!, nodeIds[i]!, timestamps[i]!);
      if (slot >= 0 && this.#index[slot] === from + 1) live.push(i);
    }
    this.#capacity = capacity;
    this.#testIds = testIds;
    this.#nodeIds = nodeIds;
    this.#timestamps = timestamps;
    this.#expires = expires;
    this.#head = 0;
    this.#tail = count;
    const slots = nextPowerOfTwo(capacity * 2);
    this.#index = new Int32Array(slots);
    this.#indexMask = slots - 1;
    this.#live = 0;
    for (const i of live) this.#insert(i);
  }
}
