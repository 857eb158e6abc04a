/**
 * The one root logger. JSON to stdout, no transports (a worker-thread transport can lose lines on a
 * hard exit). Redaction is a second line of defence: code never passes secrets to the logger,
 * and request URLs are logged as their route pattern, never whole (a push URL carries its token).
 */
import { type Logger, type LoggerOptions, pino } from 'pino';

export const REDACT_PATHS = [
  'token',
  'pushToken',
  'apiKey',
  'clientSecret',
  'password',
  'authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.token',
  '*.pushToken',
  '*.apiKey',
  '*.clientSecret',
  '*.password',
  '*.authorization',
];

export function createLogger(options: LoggerOptions = {}, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      base: { service: 'catchpoint-bridge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      ...options,
    },
    destination,
  );
}

/** An endpoint URL safe to log: user info (credentials) removed. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '[unparseable URL]';
  }
}
