/**
 * Cutting a batch into request bodies under a byte budget, one request at a time. Stock OpenTSDB
 * treats a body over 8192 wire bytes as "chunked" and refuses it whole, so the budget counts
 * bytes, not points; a point cap keeps requests that assign UIDs to new names short as well.
 */

/** UTF-8 byte length of every line, measured once per batch. */
export function lineSizes(lines: readonly string[]): Uint32Array {
  const sizes = new Uint32Array(lines.length);
  for (let i = 0; i < lines.length; i++) sizes[i] = Buffer.byteLength(lines[i] as string, 'utf8');
  return sizes;
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

/** The request body for lines[start..end), joined as they are: no re-serialisation. */
export function jsonArrayBody(lines: readonly string[], start: number, end: number): Buffer {
  let text = '[';
  for (let i = start; i < end; i++) {
    if (i > start) text += ',';
    text += lines[i] as string;
  }
  return Buffer.from(`${text}]`, 'utf8');
}
