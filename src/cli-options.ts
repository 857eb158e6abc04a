/**
 * Command-line values, checked before anything starts: a bad number or address is a usage error
 * naming the flag, never a NaN that surfaces later as a timer firing at once or a port of 0.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseListen(flag: string, text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const host = (i > 0 ? text.slice(0, i) : '0.0.0.0').replace(/^\[|\]$/g, '');
  const portText = i >= 0 ? text.slice(i + 1) : text;
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65535) || host === '') {
    throw new UsageError(`${flag} takes HOST:PORT with a port from 0 to 65535, not ${JSON.stringify(text)}`);
  }
  return { host, port };
}

/** A decimal number within [min, max] (an integer when `integer`). */
export function parseNumber(
  flag: string,
  text: string,
  { min, max, integer = false }: { min: number; max: number; integer?: boolean },
): number {
  const value = /^[0-9]+(\.[0-9]+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    throw new UsageError(
      `${flag} takes ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(text)}`,
    );
  }
  return value;
}

export function parseBoolean(flag: string, text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new UsageError(`${flag} takes true or false, not ${JSON.stringify(text)}`);
}
