/**
 * Splitting a batch into request bodies under a byte budget. Stock OpenTSDB treats a body over
 * 8192 wire bytes as "chunked" and refuses it whole (docs/opentsdb.md §1.7), so the budget counts
 * bytes, not points; a point cap keeps UID-assigning requests short as well (§1.8).
 */

/** UTF-8 byte length of every line, measured once per batch. */
export function lineSizes(lines: readonly string[]): Uint32Array {
  const sizes = new Uint32Array(lines.length);
  for (let i = 0; i < lines.length; i++) sizes[i] = Buffer.byteLength(lines[i] as string, 'utf8');
  return sizes;
}

/** Bytes of `[` + lines[start..end).join(',') + `]`. */
export function jsonArrayBytes(sizes: Uint32Array, start: number, end: number): number {
  let total = 1 + Math.max(0, end - start - 1) + 1;
  for (let i = start; i < end; i++) total += sizes[i] as number;
  return total;
}

/**
 * Greedy packing of the next request: the end of the longest range [start, end) whose JSON array
 * stays within `budget` bytes and `maxPoints` points. A line that does not fit even alone gets a
 * range of its own; the sender refuses it without sending.
 */
export function packNext(sizes: Uint32Array, start: number, budget: number, maxPoints: number): number {
  const n = sizes.length;
  if (start >= n) return n;
  let bytes = 2 + (sizes[start] as number); // "[", the first element, "]"
  let end = start + 1;
  while (end < n && end - start < maxPoints) {
    const next = bytes + 1 + (sizes[end] as number); // "," before every element but the first
    if (next > budget) break;
    bytes = next;
    end++;
  }
  return end;
}

/** The whole plan at once, as flat pairs: [start0, end0, start1, end1, ...]. */
export function packRanges(sizes: Uint32Array, budget: number, maxPoints: number): number[] {
  const ranges: number[] = [];
  for (let start = 0; start < sizes.length; ) {
    const end = packNext(sizes, start, budget, maxPoints);
    ranges.push(start, end);
    start = end;
  }
  return ranges;
}

/** The request body for lines[start..end), joined as they are: no re-serialisation. */
export function jsonArrayBody(lines: readonly string[], start: number, end: number): Buffer {
  let text = '[';
  for (let i = start; i < end; i++) {
    if (i > start) text += ',';
    text += lines[i] as string;
  }
  return Buffer.from(`${text}]`, 'utf8');
}
