/** Parses the schema's duration strings (`250ms`, `30s`, `5m`, `1h30m`) to milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|s|m|h)/g)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched += m[0].length;
  }
  if (matched !== text.length || matched === 0) throw new Error(`invalid duration: ${JSON.stringify(text)}`);
  return total;
}

/** Parses the schema's byte quantities (`512Mi`, `1Gi`, `4096`). */
export function parseQuantity(text: string): number {
  const m = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(text);
  if (m === null) throw new Error(`invalid quantity: ${JSON.stringify(text)}`);
  const mult = m[2] === 'Ki' ? 1024 : m[2] === 'Mi' ? 1024 ** 2 : m[2] === 'Gi' ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

/**
 * The inverse of parseQuantity: whole bytes in the largest of Gi, Mi, Ki that divides them. Past
 * 2^53 bytes (8 PiB), which a number cannot count exactly, it rounds up to whole Gi.
 */
export function formatQuantity(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`not a byte count: ${bytes}`);
  if (!Number.isSafeInteger(bytes)) return `${Math.ceil(bytes / 1024 ** 3)}Gi`;
  for (const [suffix, mult] of [
    ['Gi', 1024 ** 3],
    ['Mi', 1024 ** 2],
    ['Ki', 1024],
  ] as const) {
    if (bytes !== 0 && bytes % mult === 0) return `${bytes / mult}${suffix}`;
  }
  return String(bytes);
}
