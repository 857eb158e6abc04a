/**
 * Endpoint URL → writer, by scheme (what each reads from its URL: endpoint.ts):
 *   http://host:4242[/base]  https://...   HttpWriter (POST {base}/api/put?details)
 *   tcp://host:4242                       TelnetWriter (`put` lines)
 *   file:///var/log/points.put            FileWriter (appends put lines or JSON lines)
 * Several endpoints make a FailoverWriter over one writer each.
 */
import type { Logger } from 'pino';
import { redactUrl } from './endpoint.ts';
import { TsdbConfigError } from './errors.ts';
import { FailoverWriter } from './failover-writer.ts';
import { FileWriter, type FileWriterSettings } from './file-writer.ts';
import { HttpWriter, type HttpWriterSettings } from './http-writer.ts';
import { TelnetWriter, type TelnetWriterSettings } from './telnet-writer.ts';
import type { TsdbWriter } from './writer.ts';

/**
 * Settings for every kind of writer; each takes the ones it knows. Shared names
 * (`connectTimeoutMs`, `maxTags`) mean the same everywhere.
 */
export interface WriterOptions extends HttpWriterSettings, TelnetWriterSettings, FileWriterSettings {}

export function createWriter(endpoint: string, options: WriterOptions, logger: Logger): TsdbWriter {
  let protocol: string;
  try {
    protocol = new URL(endpoint).protocol;
  } catch (cause) {
    throw new TsdbConfigError(`not a URL: ${JSON.stringify(redactUrl(endpoint))}`, { cause });
  }
  switch (protocol) {
    case 'http:':
    case 'https:':
      return new HttpWriter({ ...options, endpoint, logger: logger.child({ tsdb: redactUrl(endpoint) }) });
    case 'tcp:':
      return new TelnetWriter({ ...options, endpoint, logger: logger.child({ tsdb: redactUrl(endpoint) }) });
    case 'file:':
      return new FileWriter({ ...options, endpoint, logger: logger.child({ tsdb: redactUrl(endpoint) }) });
    default:
      throw new TsdbConfigError(
        `unsupported TSDB endpoint scheme ${JSON.stringify(protocol)}: use http://, https:// (OpenTSDB /api/put), ` +
          'tcp:// (telnet put lines) or file:// (append to a file)',
      );
  }
}

/** One writer for one endpoint, a FailoverWriter over several (in the order given). */
export function createWriterForEndpoints(
  endpoints: readonly string[],
  options: WriterOptions,
  logger: Logger,
): TsdbWriter {
  if (endpoints.length === 0) throw new TsdbConfigError('no TSDB endpoint configured');
  const writers: TsdbWriter[] = [];
  try {
    for (const endpoint of endpoints) writers.push(createWriter(endpoint, options, logger));
  } catch (err) {
    for (const w of writers) void w.close();
    throw err;
  }
  return writers.length === 1 ? (writers[0] as TsdbWriter) : new FailoverWriter(writers, logger);
}
