/** The TSDB writer a config generation asks for: its endpoints (with failover), batching, auth, TLS. */
import type { Logger } from 'pino';
import { createWriterForEndpoints } from '../opentsdb/create-writer.ts';
import type { TsdbWriter } from '../opentsdb/writer.ts';
import { parseDuration } from '../shared/duration.ts';
import type { ResolvedConfig } from './config.ts';

export function createTsdbWriter(config: ResolvedConfig, logger: Logger): TsdbWriter {
  const tsdb = config.spec.tsdb;
  const timeoutMs = parseDuration(tsdb.timeout);
  return createWriterForEndpoints(
    tsdb.endpoints,
    {
      gzip: tsdb.gzip,
      maxBodyBytes: tsdb.maxRequestBytes,
      maxPointsPerRequest: tsdb.batchMaxPoints,
      maxTags: tsdb.maxTags,
      connectTimeoutMs: timeoutMs,
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs: timeoutMs,
      writeTimeoutMs: timeoutMs,
      ...(config.tsdbAuth === undefined ? {} : { auth: config.tsdbAuth }),
      ...(config.tsdbTls === undefined ? {} : { tls: config.tsdbTls }),
    },
    logger.child({ component: 'tsdb' }),
  );
}
