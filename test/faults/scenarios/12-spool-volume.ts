/**
 * 12. A spool larger than its volume is refused at admission (issue 18). With an emptyDir of
 * deployment.spoolVolumeSize, a spool that may grow to spool.maxBytes fills the volume and gets
 * the pod evicted, spool and all, before the bridge ever answers 503. So the CRD's CEL rule
 * (src/api/schema.ts, generated into crds/) refuses maxBytes + 64Mi of headroom beyond the volume.
 * Against the suite's real kube-apiserver, with `kubectl apply` as users run it (`-v=6` shows the
 * HTTP status):
 *  - maxBytes 1Gi in a 1Gi volume: refused, 422, the message naming both fields and values, and
 *    nothing stored;
 *  - maxBytes 1Gi in a 2Gi volume: admitted;
 *  - the boundary: maxBytes 1984Mi in 2Gi (1984Mi + 64Mi = 2Gi exactly) admitted, 1985Mi refused;
 *  - an update that raises maxBytes past the volume of an admitted CR: refused, the stored spec
 *    unchanged.
 * Time to recover: not applicable.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FaultContext } from '../lib/context.ts';
import { Claims, makeRow, NO_COUNTS, type Row } from '../lib/report.ts';

const ID = '12';

interface KubectlResult {
  exitCode: number;
  /** HTTP status of the write (create or patch), from kubectl's -v=6 request log. */
  status: number | undefined;
  /** kubectl's error output, its request log left out. */
  error: string;
}

export async function spoolVolume(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const plane = await ctx.controlPlane();
  const ns = await plane.createNamespace('faults-spool-volume');
  ctx.namespaces.push(ns);
  const kubectlBin = existsSync(join(plane.binDir, 'kubectl')) ? join(plane.binDir, 'kubectl') : 'kubectl';
  const kubectl = (
    args: string[],
    stdin?: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(
        kubectlBin,
        ['--kubeconfig', plane.kubeconfigPath, '-n', ns, ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(stdin ?? '');
    });
  const cr = (name: string, maxBytes: string, spoolVolumeSize: string) =>
    stringify({
      apiVersion: 'catchpoint-bridge.io/v1alpha1',
      kind: 'CatchpointBridge',
      metadata: { name, namespace: ns },
      spec: {
        catchpoint: { api: 'v2', credentialsSecretRef: { name: 'catchpoint-api' } },
        tsdb: { endpoints: ['http://opentsdb.monitoring:4242'] },
        spool: { maxBytes },
        deployment: { spoolVolumeSize },
      },
    });
  const apply = async (name: string, maxBytes: string, volume: string): Promise<KubectlResult> => {
    const r = await kubectl(['apply', '-v=6', '-f', '-'], cr(name, maxBytes, volume));
    // e.g. `I1125 ... round_trippers.go:632] "Response" verb="POST" url="…" status="422 Unprocessable Entity" …`
    // (older kubectl: `POST https://… 422 Unprocessable Entity in 4 milliseconds`).
    let status: number | undefined;
    const error: string[] = [];
    for (const line of r.stderr.split('\n')) {
      const write = /\b(POST|PATCH|PUT)\b.*?(?:status=")?\b([1-5]\d\d) [A-Z]/.exec(line);
      if (write !== null && /round_trippers|Response/.test(line)) {
        status = Number(write[2]);
        continue;
      }
      if (/^[IWE]\d{4} /.test(line)) continue; // klog lines: the request log
      if (line.trim() !== '') error.push(line.trim());
    }
    return { exitCode: r.code, status, error: error.join(' ') };
  };
  const stored = async (
    name: string,
  ): Promise<{ maxBytes?: string; spoolVolumeSize?: string } | undefined> => {
    const r = await kubectl(['get', 'catchpointbridge', name, '-o', 'json']);
    if (r.code !== 0) return undefined;
    const spec = (
      JSON.parse(r.stdout) as {
        spec: { spool?: { maxBytes?: string }; deployment?: { spoolVolumeSize?: string } };
      }
    ).spec;
    return { maxBytes: spec.spool?.maxBytes, spoolVolumeSize: spec.deployment?.spoolVolumeSize };
  };
  const names = (maxBytes: string, volume: string): RegExp =>
    new RegExp(
      `spec\\.spool\\.maxBytes \\(${maxBytes}\\) plus 64Mi of headroom must fit spec\\.deployment\\.spoolVolumeSize \\(${volume}\\)`,
    );
  const show = (r: KubectlResult) =>
    `kubectl exit ${r.exitCode}, HTTP ${r.status ?? '?'}${r.error ? `: ${r.error.slice(0, 400)}` : ''}`;

  ctx.progress(`${ID}: kubectl apply against the API server (namespace ${ns})`);
  const tooBig = await apply('too-big', '1Gi', '1Gi');
  const tooBigStored = await stored('too-big');
  claims.check(
    'maxBytes 1Gi in a 1Gi volume is refused: 422, the message names both fields and their values, nothing stored',
    tooBig.exitCode !== 0 &&
      tooBig.status === 422 &&
      names('1Gi', '1Gi').test(tooBig.error) &&
      tooBigStored === undefined,
    `${show(tooBig)}; stored: ${tooBigStored !== undefined}`,
  );
  const fits = await apply('fits', '1Gi', '2Gi');
  const fitsStored = await stored('fits');
  claims.check(
    'maxBytes 1Gi in a 2Gi volume is admitted (201) and stored as sent',
    fits.exitCode === 0 &&
      fits.status === 201 &&
      fitsStored?.maxBytes === '1Gi' &&
      fitsStored.spoolVolumeSize === '2Gi',
    `${show(fits)}; stored ${JSON.stringify(fitsStored)}`,
  );
  const edge = await apply('edge', '1984Mi', '2Gi');
  const over = await apply('edge-over', '1985Mi', '2Gi');
  claims.check(
    'the boundary: 1984Mi + 64Mi = 2Gi is admitted, 1985Mi is refused',
    edge.exitCode === 0 &&
      edge.status === 201 &&
      over.status === 422 &&
      names('1985Mi', '2Gi').test(over.error),
    `1984Mi: ${show(edge)}; 1985Mi: ${show(over)}`,
  );
  const raised = await apply('fits', '2Gi', '2Gi');
  const afterRaise = await stored('fits');
  claims.check(
    'an update raising maxBytes past the volume is refused too (422); the stored spec is unchanged',
    raised.exitCode !== 0 &&
      raised.status === 422 &&
      names('2Gi', '2Gi').test(raised.error) &&
      afterRaise?.maxBytes === '1Gi',
    `${show(raised)}; stored ${JSON.stringify(afterRaise)}`,
  );
  return makeRow(
    {
      id: ID,
      scenario: 'spool.maxBytes + 64Mi larger than deployment.spoolVolumeSize: refused at admission',
      ...NO_COUNTS,
      notes: [
        `kubectl ${kubectlBin === 'kubectl' ? 'from PATH' : 'of the control plane'} (apply -v=6) against kube-apiserver with the CRD from crds/; the rule is CEL in the CRD, no webhook`,
        `refusal as kubectl shows it: ${tooBig.error.slice(0, 600)}`,
      ],
    },
    claims,
    startedAt,
  );
}
