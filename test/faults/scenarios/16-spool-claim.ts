/**
 * 16. A single replica with its spool on a claim (issue 15), on a real node: the chart installed,
 * a CatchpointBridge with `spool.storage.type: persistentVolumeClaim` on a local
 * PersistentVolume, the TSDB down, a push stream, and the pod deleted with a 10 s grace period, so
 * it is killed 10 s into its 40 s drain with no peer to hand off to. The StatefulSet brings the
 * same replica back on the same claim; with the TSDB back, every acknowledged push must be in
 * VictoriaMetrics. The scenario is test/harness/spool-claim.ts, shared with the node e2e test.
 * Time to recover: TSDB back → every acknowledged push visible.
 */
import { nodeUnsupportedReason } from '../../../scripts/control-plane/node-host.ts';
import { FAKE_V2_API_KEY } from '../../harness/fake-catchpoint.ts';
import { hostSnapshot } from '../../harness/host-snapshot.ts';
import { type NodeCluster, startNodeCluster } from '../../harness/node-cluster.ts';
import { runSpoolClaimScenario } from '../../harness/spool-claim.ts';
import type { FaultContext } from '../lib/context.ts';
import { failureSummary } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row, skippedRow } from '../lib/report.ts';

const ID = '16';
const SCENARIO = 'single replica, spool on a claim (local PV, real node), TSDB down, pod killed mid-drain';
const NS = 'faults-claim';

export async function spoolClaim(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const unsupported = nodeUnsupportedReason();
  if (unsupported !== undefined) return skippedRow(ID, SCENARIO, unsupported, startedAt);
  const claims = new Claims();
  const token = ctx.secret(`push token ${ID}`);
  const hostBefore = await hostSnapshot();
  let cluster: NodeCluster | undefined;
  try {
    ctx.progress(`${ID}: a control plane with a real node, the image built here, helm install`);
    cluster = await startNodeCluster();
    await cluster.installChart('cpb', 'catchpoint-bridge-system');
    await cluster.kubectl(['create', 'namespace', NS]);
    await cluster.kubectl([
      'create',
      'secret',
      'generic',
      'cp',
      '-n',
      NS,
      `--from-literal=apiKey=${FAKE_V2_API_KEY}`,
    ]);
    await cluster.kubectl(['create', 'secret', 'generic', 'push', '-n', NS, `--from-literal=token=${token}`]);
    const r = await runSpoolClaimScenario(cluster, {
      namespace: NS,
      name: 'claim',
      catchpointSecret: 'cp',
      pushSecret: 'push',
      token,
      testId: 16_001,
      nodes: cluster.catchpoint.nodes.slice(0, 40).map((n) => ({ id: n.id, name: n.name, asn: n.asn })),
      progress: (line) => ctx.progress(`${ID}: ${line}`),
    });
    claims.check('the bridge runs as a StatefulSet', r.ownerKind === 'StatefulSet', r.ownerKind);
    claims.check(
      "replica 0's claim is bound to the local volume",
      r.boundVolume === 'local-spool-0',
      r.boundVolume,
    );
    claims.check(
      'the deleted pod comes back as the same replica (same claim), a new pod',
      r.podAfter.name === r.podBefore.name && r.podAfter.uid !== r.podBefore.uid,
      `${r.podBefore.name} back in ${formatMs(r.podBackMs)}`,
    );
    claims.check(
      'pushes were acknowledged while the TSDB was down',
      r.acknowledged.length > 80,
      `${r.acknowledged.length}`,
    );
    claims.check(
      '0 acknowledged pushes lost',
      r.missing.length === 0,
      `${r.missing.length} missing of ${r.acknowledged.length}`,
    );
    await cluster.stop();
    claims.check('the host is put back as it was', (await hostSnapshot()) === hostBefore);
    const refused = [...r.failures.values()].reduce((a, b) => a + b, 0);
    return makeRow(
      {
        id: ID,
        scenario: SCENARIO,
        sent: r.sent,
        acknowledged: r.acknowledged.length,
        refused,
        expected: r.acknowledged.length,
        found: r.acknowledged.length - r.missing.length,
        lost: r.missing.length,
        duplicated: null,
        recoverMs: r.missing.length === 0 ? r.recoveryMs : null,
        recoverWhat: 'TSDB back → every acknowledged push visible',
        notes: [
          `20 pushes/s for 12 s to the Service, pod deleted 6 s in with --grace-period=10: killed 10 s into its 40 s drain, no peer to hand off to; refused while no pod served: ${failureSummary(r.failures)}`,
          'expected and found count pushes (their rtt point); duplicates are not measured here',
        ],
      },
      claims,
      startedAt,
    );
  } finally {
    await cluster?.stop();
  }
}
