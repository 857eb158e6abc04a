/**
 * `catchpoint-bridge` — one CLI for the product: `bridge` (standalone from a config file, or in a
 * cluster from its CatchpointBridge), `operator`, `replay` (recorded pushes to a bridge) and `crd`
 * (the CRD as YAML). USAGE below lists each command's options. Exit codes: 0 done, 1 a config the
 * command cannot run on, a replay not answered 200 throughout, or an unexpected error, 2 a usage
 * error; `bridge` and `operator` run until a signal (server.ts), the operator exits 1 when it
 * loses its leadership.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { buildCrd } from './api/crd.ts';
import { FileConfigSource } from './bridge/file-config-source.ts';
import { closeOnSignals, serveBridge } from './bridge/server.ts';
import { parseBoolean, parseListen, parseNumber, UsageError } from './cli-options.ts';
import { readPushFile, redactPushUrl, replay } from './replay/replay.ts';
import { hasCode } from './shared/errors.ts';
import { createLogger } from './shared/logger.ts';

const USAGE = `usage: catchpoint-bridge <command> [options]

commands:
  bridge     run a bridge: --config FILE [--secrets-dir DIR] | --resource NAMESPACE/NAME
             [--listen HOST:PORT] [--spool-dir DIR] [--drain SECONDS] [--handoff-url PEER_URL]
             [--shutdown-delay SECONDS]
  operator   run the operator: --image IMAGE [--watch-namespaces a,b] [--leader-elect true|false]
             [--lease-namespace NS] [--listen-metrics HOST:PORT] [--workers N]
  replay     POST recorded pushes to a bridge: --file PUSHES.ndjson --url URL [--rate PER_SECOND]
             (the URL may also come from $CATCHPOINT_BRIDGE_URL; $CATCHPOINT_BRIDGE_TOKEN, when set,
             is sent as Authorization: Bearer, which keeps the token out of URLs and shell history)
  crd        print the CatchpointBridge CustomResourceDefinition
`;

async function bridgeCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      resource: { type: 'string' },
      'secrets-dir': { type: 'string' },
      listen: { type: 'string', default: '0.0.0.0:8080' },
      'spool-dir': { type: 'string', default: '.spool' },
      drain: { type: 'string', default: '20' },
      'handoff-url': { type: 'string' },
      'shutdown-delay': { type: 'string', default: '0' },
    },
  });
  if ((values.config === undefined) === (values.resource === undefined)) {
    throw new UsageError(
      'bridge needs either --config FILE (standalone) or --resource NAMESPACE/NAME (in a cluster)',
    );
  }
  if (values['handoff-url'] !== undefined && !URL.canParse(values['handoff-url'])) {
    throw new UsageError('--handoff-url takes a URL such as http://bridge.ns.svc:8080');
  }
  const logger = createLogger();
  const options = {
    listen: parseListen('--listen', values.listen),
    spoolDir: values['spool-dir'],
    logger,
    drainMs: parseNumber('--drain', values.drain, { min: 0, max: 3600 }) * 1000,
    shutdownDelayMs: parseNumber('--shutdown-delay', values['shutdown-delay'], { min: 0, max: 600 }) * 1000,
    ...(values['handoff-url'] ? { handoffUrl: values['handoff-url'] } : {}),
  };
  if (values.config !== undefined) {
    const source = new FileConfigSource({ configFile: values.config, secretsDir: values['secrets-dir'] });
    closeOnSignals(await serveBridge({ ...options, source }), logger);
    return;
  }
  const [namespace, name] = values.resource!.split('/');
  if (!namespace || !name) throw new UsageError('--resource takes NAMESPACE/NAME');
  // Loaded only in a cluster: @kubernetes/client-node alone costs ~90 MB of RSS, which a
  // standalone bridge has no use for.
  const [{ loadKubeConfig }, { KubeConfigSource }, { startStatusReporter }] = await Promise.all([
    import('./kube/kube-config.ts'),
    import('./bridge/kube-config-source.ts'),
    import('./bridge/status-reporter.ts'),
  ]);
  const kc = loadKubeConfig();
  const source = new KubeConfigSource({ kc, namespace, name, logger: logger.child({ component: 'config' }) });
  const running = await serveBridge({ ...options, source });
  const stopReporting = startStatusReporter({
    kc,
    namespace,
    name,
    bridge: running.bridge,
    logger: logger.child({ component: 'status' }),
  });
  closeOnSignals(
    {
      close: async () => {
        stopReporting();
        await running.close();
      },
    },
    logger,
  );
}

async function operatorCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      image: { type: 'string' },
      'watch-namespaces': { type: 'string' },
      'leader-elect': { type: 'string', default: 'true' },
      'lease-namespace': { type: 'string' },
      'listen-metrics': { type: 'string', default: '0.0.0.0:8081' },
      workers: { type: 'string', default: '4' },
    },
  });
  if (values.image === undefined) throw new UsageError('operator needs --image (the bridge image to run)');
  const listen = parseListen('--listen-metrics', values['listen-metrics']);
  const workers = parseNumber('--workers', values.workers, { min: 1, max: 64, integer: true });
  const leaderElect = parseBoolean('--leader-elect', values['leader-elect']);
  const logger = createLogger().child({ component: 'operator' });
  const namespaces = values['watch-namespaces']
    ?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const [{ loadKubeConfig }, { runOperator }] = await Promise.all([
    import('./kube/kube-config.ts'),
    import('./operator/main.ts'),
  ]);
  const running = await runOperator({
    kc: loadKubeConfig(),
    logger,
    config: { image: values.image },
    ...(namespaces?.length ? { namespaces } : {}),
    leaderElect,
    ...(values['lease-namespace'] ? { leaseNamespace: values['lease-namespace'] } : {}),
    listen,
    workers,
  });
  closeOnSignals({ close: () => running.stop() }, logger);
  void running.lostLeadership.then(() => {
    // Another replica leads now; exit so Kubernetes restarts this one as a standby.
    process.exit(1);
  });
}

async function replayCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { file: { type: 'string' }, url: { type: 'string' }, rate: { type: 'string', default: '20' } },
  });
  const url = values.url ?? process.env.CATCHPOINT_BRIDGE_URL;
  if (values.file === undefined || url === undefined) throw new UsageError('replay needs --file and --url');
  const bodies = await readPushFile(values.file);
  const ratePerSecond = parseNumber('--rate', values.rate, { min: 0.001, max: 100_000 });
  const token = process.env.CATCHPOINT_BRIDGE_TOKEN;
  const summary = await replay({ url, bodies, ratePerSecond, ...(token ? { token } : {}) });
  process.stdout.write(
    `replayed ${summary.sent} pushes to ${redactPushUrl(url)} in ${summary.durationMs} ms: ${JSON.stringify(summary.byStatus)}\n`,
  );
  return Object.keys(summary.byStatus).every((s) => s === '200') ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'bridge':
        await bridgeCommand(rest);
        return -1; // keeps running
      case 'operator':
        await operatorCommand(rest);
        return -1;
      case 'replay':
        return await replayCommand(rest);
      case 'crd':
        process.stdout.write(stringify(buildCrd(), { lineWidth: 0 }));
        return 0;
      default:
        process.stderr.write(USAGE);
        return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
    }
  } catch (err) {
    if (
      hasCode(
        err,
        'CPB_ERR_INVALID_SPEC',
        'CPB_ERR_SECRET_MISSING',
        'CPB_ERR_TLS_MATERIAL',
        'CPB_ERR_PUSH_FORMAT',
      )
    ) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
