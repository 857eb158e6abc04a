// The Helm chart, rendered by the real helm and checked by the real API server: lint, the values
// schema, what each value renders, RBAC equal to the code's list, and every rendering accepted by
// `kubectl apply --dry-run=server`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../scripts/control-plane/binaries.ts';
import { buildCrd } from '../../../src/api/crd.ts';
import { LEADER_ELECTION_RULES, OPERATOR_RULES, toKubeRules } from '../../../src/operator/rbac.ts';
import { compileCli } from '../../harness/compiled-cli.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { CHART_DIR, find, helm, type K8sObject, kubectl, ok, renderChart } from '../../support/chart.ts';

const execFileAsync = promisify(execFile);
const RELEASE = 'cpb';
const NAMESPACE = 'cpb-system';
const { appVersion } = parse(await readFile(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
/** The default image: values.yaml's repository, tagged with the chart's appVersion. */
const OPERATOR_IMAGE = `ghcr.io/catchpoint-bridge/catchpoint-bridge:${appVersion}`;

interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: Record<string, unknown>;
  securityContext: Record<string, unknown>;
}

function operatorDeployment(objects: K8sObject[]): {
  replicas: number;
  pod: Record<string, unknown>;
  container: Container;
} {
  const [deployment, ...more] = find(objects, 'Deployment');
  assert.ok(deployment, 'a Deployment is rendered');
  assert.equal(more.length, 0, 'exactly one Deployment');
  const spec = deployment.spec as { replicas: number; template: { spec: Record<string, unknown> } };
  const [container] = spec.template.spec.containers as Container[];
  assert.ok(container);
  return { replicas: spec.replicas, pod: spec.template.spec, container };
}

function rulesOf(object: K8sObject | undefined): unknown {
  assert.ok(object, 'the role exists');
  return object.rules;
}

describe('helm lint', () => {
  const cases: Array<[string, string[]]> = [
    ['default values', []],
    ['the oldest supported Kubernetes', ['--kube-version', '1.29.0']],
    [
      'watched namespaces, one replica, no leader election',
      [
        '--set',
        'watchNamespaces={team-a,team-b}',
        '--set',
        'operator.replicas=1',
        '--set',
        'operator.leaderElection.enabled=false',
      ],
    ],
    [
      'NetworkPolicy, digest, pull secrets, no CRD',
      [
        '--set',
        'networkPolicy.enabled=true',
        '--set',
        `image.digest=sha256:${'a'.repeat(64)}`,
        '--set',
        'imagePullSecrets[0].name=regcred',
        '--set',
        'crds.install=false',
      ],
    ],
  ];
  for (const [name, flags] of cases) {
    test(`--strict passes: ${name}`, async () => {
      const out = await ok(helm(['lint', '--strict', CHART_DIR, ...flags]), 'helm lint');
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }
});

describe('values.schema.json', () => {
  test('is valid JSON, strict at the top level and in every object it describes', async () => {
    const schema = JSON.parse(await readFile(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const loose: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const s = node as Record<string, unknown>;
      if (
        s.properties !== undefined &&
        s.additionalProperties !== false &&
        path !== '/properties/operator/properties/extraEnv/items'
      ) {
        loose.push(path || '/');
      }
      for (const [key, child] of Object.entries(s)) walk(child, `${path}/${key}`);
    };
    walk(schema, '');
    assert.deepEqual(loose, [], 'objects with known properties must forbid unknown ones');
  });

  const rejected: Array<[string, string[], RegExp]> = [
    ['a negative replica count', ['--set', 'operator.replicas=-1'], /\/operator\/replicas.*minimum/],
    ['a replica count that is not a number', ['--set', 'operator.replicas=two'], /\/operator\/replicas/],
    [
      'an unknown top-level key',
      ['--set', 'replicaCount=3'],
      /additional properties 'replicaCount' not allowed/,
    ],
    ['an unknown nested key', ['--set', 'operator.replica=3'], /additional properties 'replica' not allowed/],
    ['a namespace that is no DNS label', ['--set', 'watchNamespaces={Team_A}'], /\/watchNamespaces\/0/],
    [
      'an image pull policy Kubernetes does not know',
      ['--set', 'image.pullPolicy=Sometimes'],
      /\/image\/pullPolicy/,
    ],
    ['a digest that is not sha256', ['--set', 'image.digest=latest'], /\/image\/digest/],
    ['a metrics port out of range', ['--set', 'metrics.port=70000'], /\/metrics\/port.*maximum/],
  ];
  for (const [name, flags, message] of rejected) {
    test(`rejects ${name} (helm template)`, async () => {
      const r = await helm(['template', RELEASE, CHART_DIR, ...flags]);
      assert.notEqual(r.code, 0, 'helm template must fail');
      assert.match(r.stderr, /values don't meet the specifications of the schema/);
      assert.match(r.stderr, message);
    });
  }
});

describe('rendering', () => {
  let defaults: K8sObject[];
  let defaultsText: string;
  before(async () => {
    ({ objects: defaults, text: defaultsText } = await renderChart([], {
      release: RELEASE,
      namespace: NAMESPACE,
    }));
  });

  test('every namespaced object goes to the release namespace, explicitly', () => {
    const clusterScoped = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);
    for (const o of defaults) {
      if (clusterScoped.has(o.kind))
        assert.equal(o.metadata.namespace, undefined, `${o.kind} ${o.metadata.name}`);
      else assert.equal(o.metadata.namespace, NAMESPACE, `${o.kind} ${o.metadata.name}`);
    }
  });

  test('the operator Deployment: two replicas, restricted pod security, probes, downward API, its own image for bridges', () => {
    const { replicas, pod, container } = operatorDeployment(defaults);
    assert.equal(replicas, 2);
    assert.equal(pod.serviceAccountName, 'cpb-catchpoint-bridge');
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(container.image, OPERATOR_IMAGE);
    assert.deepEqual(container.args, [
      'operator',
      `--image=${OPERATOR_IMAGE}`,
      '--leader-elect=true',
      '--listen-metrics=0.0.0.0:8081',
      '--workers=4',
    ]);
    assert.deepEqual(
      container.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
      [
        ['POD_NAMESPACE', 'metadata.namespace'],
        ['POD_NAME', 'metadata.name'],
      ],
    );
    assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 8081, protocol: 'TCP' }]);
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
    assert.ok(container.resources.requests && container.resources.limits, 'requests and limits are set');
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  test('every flag the chart passes is one `catchpoint-bridge operator` documents', async () => {
    const { objects } = await renderChart(['--set', 'watchNamespaces={a,b}']);
    const flags = operatorDeployment(objects)
      .container.args.slice(1)
      .map((a) => a.replace(/=.*$/, ''));
    assert.ok(flags.length >= 5);
    // The image's entry point: the package bin runs dist/, built here as the image's build stage does.
    await compileCli();
    const { stderr } = await execFileAsync(process.execPath, [
      join(REPO_ROOT, 'bin', 'catchpoint-bridge.js'),
      '--help',
    ]);
    const usage = stderr.slice(stderr.indexOf('operator '));
    for (const flag of flags)
      assert.ok(usage.includes(`${flag} `), `${flag} is in the operator usage:\n${usage}`);
  });

  test('image values: tag, digest, and a separate bridge image', async () => {
    const tagged = operatorDeployment((await renderChart(['--set', 'image.tag=1.2.3'])).objects).container;
    assert.equal(tagged.image, 'ghcr.io/catchpoint-bridge/catchpoint-bridge:1.2.3');
    assert.ok(tagged.args.includes('--image=ghcr.io/catchpoint-bridge/catchpoint-bridge:1.2.3'));

    const digest = `sha256:${'0'.repeat(64)}`;
    const pinned = operatorDeployment(
      (
        await renderChart([
          '--set',
          `image.digest=${digest}`,
          '--set',
          'image.repository=registry.example/cpb',
        ])
      ).objects,
    ).container;
    assert.equal(pinned.image, `registry.example/cpb@${digest}`);
    assert.ok(pinned.args.includes(`--image=registry.example/cpb@${digest}`));

    const split = operatorDeployment(
      (await renderChart(['--set', 'bridge.image=registry.example/bridge:dev'])).objects,
    ).container;
    assert.equal(split.image, OPERATOR_IMAGE);
    assert.ok(split.args.includes('--image=registry.example/bridge:dev'));
  });

  test('the operator ClusterRole is exactly OPERATOR_RULES from src/operator/rbac.ts, bound to its ServiceAccount', () => {
    const [role] = find(defaults, 'ClusterRole', 'cpb-catchpoint-bridge');
    assert.deepEqual(rulesOf(role), toKubeRules(OPERATOR_RULES));
    const [binding] = find(defaults, 'ClusterRoleBinding', 'cpb-catchpoint-bridge');
    assert.ok(binding);
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'cpb-catchpoint-bridge',
    });
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: 'cpb-catchpoint-bridge', namespace: NAMESPACE },
    ]);
    assert.equal(find(defaults, 'Role').filter((r) => r.metadata.namespace !== NAMESPACE).length, 0);
  });

  test('the leader-election Role is exactly LEADER_ELECTION_RULES, in the release namespace', () => {
    const [role] = find(defaults, 'Role', 'cpb-catchpoint-bridge-leader-election', NAMESPACE);
    assert.deepEqual(rulesOf(role), toKubeRules(LEADER_ELECTION_RULES));
    const [binding] = find(defaults, 'RoleBinding', 'cpb-catchpoint-bridge-leader-election', NAMESPACE);
    assert.ok(binding);
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: 'cpb-catchpoint-bridge', namespace: NAMESPACE },
    ]);
  });

  test('every rule in the rendered RBAC carries its why as a comment', () => {
    const lines = defaultsText.split('\n');
    const ruleLines = lines.flatMap((line, i) => (/^ {2}- apiGroups: /.test(line) ? [i] : []));
    assert.ok(ruleLines.length >= OPERATOR_RULES.length + LEADER_ELECTION_RULES.length);
    for (const i of ruleLines) assert.match(lines[i - 1] ?? '', /^ {2}# \S/, `no comment above: ${lines[i]}`);
    for (const rule of [...OPERATOR_RULES, ...LEADER_ELECTION_RULES]) {
      assert.ok(
        defaultsText.includes(`  # ${rule.why}\n`),
        `the why of ${rule.resources.join(',')} is in the output`,
      );
    }
  });

  test('watchNamespaces: a Role and RoleBinding per namespace, no cluster-wide operator permission', async () => {
    const { objects } = await renderChart(['--set', 'watchNamespaces={a,b}'], {
      release: RELEASE,
      namespace: NAMESPACE,
    });
    for (const ns of ['a', 'b']) {
      const [role] = find(objects, 'Role', 'cpb-catchpoint-bridge', ns);
      assert.deepEqual(rulesOf(role), toKubeRules(OPERATOR_RULES), `Role in ${ns}`);
      const [binding] = find(objects, 'RoleBinding', 'cpb-catchpoint-bridge', ns);
      assert.ok(binding, `RoleBinding in ${ns}`);
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'cpb-catchpoint-bridge',
      });
      assert.deepEqual(binding.subjects, [
        { kind: 'ServiceAccount', name: 'cpb-catchpoint-bridge', namespace: NAMESPACE },
      ]);
    }
    // Only the aggregated user-facing roles stay cluster-scoped; nothing binds the operator cluster-wide.
    assert.deepEqual(
      find(objects, 'ClusterRole')
        .map((r) => r.metadata.name)
        .sort(),
      ['cpb-catchpoint-bridge-edit', 'cpb-catchpoint-bridge-view'],
    );
    for (const role of find(objects, 'ClusterRole'))
      assert.notDeepEqual(role.rules, toKubeRules(OPERATOR_RULES));
    assert.deepEqual(find(objects, 'ClusterRoleBinding'), []);
    assert.ok(find(objects, 'Role', 'cpb-catchpoint-bridge-leader-election', NAMESPACE).length === 1);
    assert.ok(operatorDeployment(objects).container.args.includes('--watch-namespaces=a,b'));
  });

  test('aggregated ClusterRoles extend the built-in view, edit and admin roles', () => {
    const [view] = find(defaults, 'ClusterRole', 'cpb-catchpoint-bridge-view');
    const [edit] = find(defaults, 'ClusterRole', 'cpb-catchpoint-bridge-edit');
    assert.equal(view?.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
    assert.equal(edit?.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-edit'], 'true');
    assert.equal(edit?.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-admin'], 'true');
    const verbs = (role: K8sObject | undefined) =>
      ((role?.rules ?? []) as Array<{ resources: string[]; verbs: string[] }>).flatMap((r) =>
        r.resources.flatMap((res) => r.verbs.map((v) => `${res}:${v}`)),
      );
    assert.ok(verbs(view).includes('catchpointbridges:list'));
    assert.ok(!verbs(view).some((v) => /:(create|update|patch|delete)/.test(v)), 'view is read-only');
    assert.ok(verbs(edit).includes('catchpointbridges:create'));
    assert.ok(
      !verbs(edit).some((v) => v.startsWith('catchpointbridges/status:') && !/:(get|list|watch)$/.test(v)),
    );
  });

  test('the CRD is the one buildCrd() makes, kept on uninstall; crds.keep and crds.install turn that off', async () => {
    const [crd] = find(defaults, 'CustomResourceDefinition');
    assert.ok(crd);
    const expected = buildCrd() as { metadata: Record<string, unknown> };
    assert.deepEqual(crd, {
      ...expected,
      metadata: { ...expected.metadata, annotations: { 'helm.sh/resource-policy': 'keep' } },
    });
    const notKept = find(
      (await renderChart(['--set', 'crds.keep=false'])).objects,
      'CustomResourceDefinition',
    );
    assert.deepEqual(notKept, [buildCrd()]);
    assert.deepEqual(
      find((await renderChart(['--set', 'crds.install=false'])).objects, 'CustomResourceDefinition'),
      [],
    );
  });

  test('a PodDisruptionBudget only with more than one replica', async () => {
    const [pdb] = find(defaults, 'PodDisruptionBudget');
    assert.deepEqual(((pdb?.spec ?? {}) as { maxUnavailable?: number }).maxUnavailable, 1);
    const single = await renderChart(['--set', 'operator.replicas=1']);
    assert.deepEqual(find(single.objects, 'PodDisruptionBudget'), []);
    assert.equal(operatorDeployment(single.objects).replicas, 1);
  });

  test('leader election off: the flag, and no Lease permissions', async () => {
    const { objects } = await renderChart([
      '--set',
      'operator.leaderElection.enabled=false',
      '--set',
      'operator.replicas=1',
    ]);
    assert.ok(operatorDeployment(objects).container.args.includes('--leader-elect=false'));
    assert.deepEqual(find(objects, 'Role'), []);
  });

  test('a metrics Service; ServiceMonitor and NetworkPolicy off by default', async () => {
    const [service] = find(defaults, 'Service', 'cpb-catchpoint-bridge-metrics');
    assert.deepEqual(((service?.spec ?? {}) as { ports?: unknown }).ports, [
      { name: 'metrics', port: 8081, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    assert.deepEqual(find(defaults, 'ServiceMonitor'), []);
    assert.deepEqual(find(defaults, 'NetworkPolicy'), []);
  });

  test('serviceMonitor.enabled needs the ServiceMonitor API, and says so', async () => {
    const missing = await helm(['template', RELEASE, CHART_DIR, '--set', 'serviceMonitor.enabled=true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /needs the monitoring\.coreos\.com\/v1 ServiceMonitor CRD/);
    const { objects } = await renderChart([
      '--set',
      'serviceMonitor.enabled=true',
      '--api-versions',
      'monitoring.coreos.com/v1/ServiceMonitor',
    ]);
    const [monitor] = find(objects, 'ServiceMonitor');
    assert.deepEqual(((monitor?.spec ?? {}) as { endpoints?: unknown }).endpoints, [
      { port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' },
    ]);
  });
});

describe('kubectl apply --dry-run=server of helm template', () => {
  let plane: ControlPlane;
  before(async () => {
    plane = await sharedControlPlane();
    // A stand-in for the Prometheus Operator's CRD, so a ServiceMonitor can be checked too.
    await plane.installCrds([SERVICE_MONITOR_CRD]);
  });

  const variants: Array<[string, (namespaces: { release: string; a: string; b: string }) => string[]]> = [
    ['default values', () => []],
    [
      'every optional object on',
      () => [
        '--set',
        'networkPolicy.enabled=true',
        '--set',
        'serviceMonitor.enabled=true',
        '--set',
        'serviceMonitor.labels.release=prometheus',
        '--api-versions',
        'monitoring.coreos.com/v1/ServiceMonitor',
        '--set',
        'operator.replicas=3',
        '--set',
        'commonLabels.team=observability',
        '--set',
        'operator.podAnnotations.example\\.com/note=yes',
        '--set-json',
        'extraObjects=[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{ .Release.Name }}-extra"}}]',
      ],
    ],
    [
      'watched namespaces, one replica, no leader election, no CRD',
      ({ a, b }) => [
        '--set',
        `watchNamespaces={${a},${b}}`,
        '--set',
        'operator.replicas=1',
        '--set',
        'operator.leaderElection.enabled=false',
        '--set',
        'crds.install=false',
      ],
    ],
  ];

  for (const [name, flags] of variants) {
    test(`the API server accepts it: ${name}`, { timeout: 120_000 }, async () => {
      const release = await plane.createNamespace('chart-release');
      const a = await plane.createNamespace('watched-a');
      const b = await plane.createNamespace('watched-b');
      const { text, objects } = await renderChart(flags({ release, a, b }), {
        release: RELEASE,
        namespace: release,
      });
      assert.ok(objects.length > 5);
      const out = await ok(
        kubectl(['apply', '--dry-run=server', '-f', '-'], { kubeconfig: plane.kubeconfigPath, input: text }),
        'kubectl apply --dry-run=server',
      );
      // One line per object, each "(server dry run)".
      const lines = out.trim().split('\n');
      assert.equal(lines.length, objects.length, out);
      for (const line of lines) assert.match(line, /\(server dry run\)$/);
    });
  }
});

const SERVICE_MONITOR_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: {
      kind: 'ServiceMonitor',
      listKind: 'ServiceMonitorList',
      plural: 'servicemonitors',
      singular: 'servicemonitor',
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};
