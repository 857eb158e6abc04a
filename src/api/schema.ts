/**
 * The CatchpointBridge API, defined once. The CRD's openAPIV3Schema (crd.ts), the TypeScript
 * types (types.ts) and the validation of standalone config files (validate.ts) are all derived
 * from these TypeBox schemas, so they cannot drift apart.
 *
 * Kubernetes constraints shape the schema: every string, list and map is bounded (the API
 * server's CEL cost estimator refuses unbounded ones), a nested default only applies when its
 * parent exists (so parents default to `{}`), and `x-kubernetes-validations` carry the rules a
 * plain schema cannot say. Those CEL rules use only standard CEL and Kubernetes' quantity library
 * (cel-quantity.ts), so validate.ts evaluates the very same expressions for configs that never pass
 * through an API server.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { formatQuantity } from '../shared/duration.ts';
import { DEFAULT_SPOOL_VOLUME_BYTES, SPOOL_VOLUME_HEADROOM_BYTES } from './spool-volume.ts';

export const API_GROUP = 'catchpoint-bridge.io';
export const API_VERSION = 'v1alpha1';
export const KIND = 'CatchpointBridge';
export const PLURAL = 'catchpointbridges';

/** The tag dimensions a datapoint can be sliced by; names are the seed's `by_<dim>` segments. */
export const DIMENSIONS = [
  'node',
  'asn',
  'continent',
  'city',
  'country',
  'region',
  'isp',
  'networkType',
  'test',
] as const;
export const SEED_DIMENSIONS = ['node', 'asn', 'continent', 'city', 'country', 'region', 'isp'] as const;

/**
 * Measurements: `rtt` (Summary.Timing.Total), `status` (a counter tagged ok/error), `error`
 * (a counter per error code, failures only), or any numeric value of the push named by its
 * path under Summary, lower case: `timing.dns`, `byte.response.totalcontent`,
 * `ping.packetlosspct`, `traceroute.rtt`, ...
 */
export const MEASUREMENT_PATTERN =
  '^(rtt|status|error|(timing|byte|counter|ping|score|traceroute)(\\.[a-z0-9]{1,40}){1,3})$';

const DURATION_PATTERN = '^([0-9]{1,6}(ms|s|m|h))+$';
const QUANTITY_PATTERN = '^[0-9]{1,12}(Ki|Mi|Gi)?$';
/** A DNS-1123 subdomain, as Secret names are. */
const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$';
/** A Secret data key. */
const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]{1,253}$';
/** OpenTSDB's character set for metric names (ASCII part). */
const METRIC_NAME_PATTERN = '^[a-zA-Z0-9._/-]{1,100}$';

/** spool-volume.ts's headroom, as the CEL rule and the messages spell it (64Mi). */
const SPOOL_HEADROOM = formatQuantity(SPOOL_VOLUME_HEADROOM_BYTES);
const DEFAULT_SPOOL_MAX_BYTES = '512Mi';

const Duration = (defaultValue: string, description: string) =>
  Type.String({ pattern: DURATION_PATTERN, maxLength: 32, default: defaultValue, description });

/** A Secret or ConfigMap in the CR's own namespace (the only place the bridge may read them). */
const ObjectName = (kind: 'Secret' | 'ConfigMap') =>
  Type.String({
    pattern: SECRET_NAME_PATTERN,
    minLength: 1,
    maxLength: 253,
    description: `Name of a ${kind} in the CatchpointBridge namespace.`,
  });

const SecretName = ObjectName('Secret');

const SecretKey = (defaultValue: string, description: string) =>
  Type.String({ pattern: SECRET_KEY_PATTERN, maxLength: 253, default: defaultValue, description });

const ConfigMapName = ObjectName('ConfigMap');

export const CredentialsSecretRef = Type.Object(
  {
    name: SecretName,
    clientIdKey: SecretKey('clientId', 'Key holding the v1 OAuth client id.'),
    clientSecretKey: SecretKey('clientSecret', 'Key holding the v1 OAuth client secret.'),
    apiKeyKey: SecretKey('apiKey', 'Key holding the v2 REST API key (a JWT).'),
  },
  { additionalProperties: false },
);

export const CatchpointSpec = Type.Object(
  {
    api: Type.Union([Type.Literal('v1'), Type.Literal('v2')], {
      default: 'v2',
      description: 'REST API used for the node directory. v1: OAuth client id/secret; v2: bearer API key.',
    }),
    baseURL: Type.String({
      maxLength: 2048,
      default: 'https://io.catchpoint.com',
      description: 'Base URL of the Catchpoint REST API (overridable for proxies and tests).',
      'x-kubernetes-validations': [
        {
          rule: "self.matches('^https?://[^/?#\\\\s]+(/[^?#\\\\s]*)?$')",
          message: 'baseURL must be an http:// or https:// URL without query or fragment',
        },
      ],
    }),
    credentialsSecretRef: CredentialsSecretRef,
    refreshInterval: Duration('1h', 'How often the node directory is reloaded.'),
    unknownNodeRefreshInterval: Duration(
      '5m',
      'Least time between two reloads triggered by a push from a node the directory lacks.',
    ),
    v1BearerEncoding: Type.Union([Type.Literal('auto'), Type.Literal('raw'), Type.Literal('base64')], {
      default: 'auto',
      description: 'v1 only: how the OAuth token is sent (older accounts want it base64-encoded).',
    }),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: "self.api != 'v1' || self.credentialsSecretRef.clientIdKey != self.credentialsSecretRef.clientSecretKey",
        message: 'api v1 needs two different Secret keys for clientId and clientSecret',
      },
    ],
  },
);

export const TemplateFields = Type.Object(
  {
    testId: Type.String({ maxLength: 128, default: 'TestId' }),
    nodeId: Type.String({ maxLength: 128, default: 'NodeId' }),
    timestamp: Type.String({
      maxLength: 128,
      default: 'Timestamp',
      description:
        'Dot path of the run time: 17 digits yyyyMMddHHmmssSSS (UTC), an epoch of 10 or 13 digits, or ' +
        'ISO 8601 with Z or an offset.',
    }),
    nodeName: Type.Optional(Type.String({ maxLength: 128 })),
    asn: Type.Optional(Type.String({ maxLength: 128 })),
    errorCode: Type.Optional(Type.String({ maxLength: 128 })),
    measurements: Type.Optional(
      Type.Record(Type.String({ pattern: MEASUREMENT_PATTERN }), Type.String({ maxLength: 128 }), {
        maxProperties: 64,
        description:
          'Measurement (e.g. timing.total) → dot path of its value in the template body. Every one mapped is ' +
          'written, even when spec.measurements does not list it (status and error come from errorCode and ' +
          'need spec.measurements).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Dot paths of each field in a Template body.' },
);

export const PushSpec = Type.Object(
  {
    tokenSecretRef: Type.Optional(
      Type.Object(
        {
          name: SecretName,
          key: SecretKey('token', 'Key holding the push token.'),
        },
        {
          additionalProperties: false,
          description:
            'Secret holding the push token. Pushes to /push carry it in `Authorization: Bearer <token>` ' +
            'or in the header named by tokenHeader (recommended: URLs end up in access logs), or in the ' +
            'path (/push/<token>). Without it the bridge takes unauthenticated POST / like the seed did, and warns.',
        },
      ),
    ),
    tokenHeader: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][-A-Za-z0-9]{0,62}$',
        maxLength: 63,
        description:
          'Name of a request header that carries the push token as its whole value (e.g. X-Push-Token), ' +
          'for a webhook that can add a header but not Authorization. Authorization: Bearer is always accepted.',
        'x-kubernetes-validations': [
          {
            rule: "!self.matches('(?i)^(authorization|host|cookie|content-[a-z]+|transfer-encoding|connection)$')",
            message:
              'tokenHeader must be a header of its own, not Authorization, Host, Cookie or a content header',
          },
        ],
      }),
    ),
    tokenRotationOverlap: Duration(
      '1h',
      'How long a replaced push token keeps working after the Secret changes, so Catchpoint can be switched over.',
    ),
    format: Type.Union([Type.Literal('json'), Type.Literal('template')], {
      default: 'json',
      description: "Payload format configured in Catchpoint: its default JSON, or a JSON 'Template'.",
    }),
    template: Type.Optional(TemplateFields),
    maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 16777216, default: 1048576 }),
    dedupeWindow: Duration(
      '2h',
      'Re-deliveries of the same (TestId, NodeId, Timestamp) within this window are written once.',
    ),
  },
  {
    additionalProperties: false,
    default: {},
    'x-kubernetes-validations': [
      {
        // has(self.format): the API server also checks this rule against the `{}` default.
        rule: "!has(self.format) || self.format != 'template' || has(self.template)",
        message: 'push.template (the field map) is required when push.format is template',
      },
      {
        rule: '!has(self.tokenHeader) || has(self.tokenSecretRef)',
        message: 'push.tokenHeader needs push.tokenSecretRef (the token it carries)',
      },
    ],
  },
);

export const NamingSpec = Type.Object(
  {
    layout: Type.Union([Type.Literal('seed'), Type.Literal('tags')], {
      default: 'seed',
      description:
        'seed: <prefix>.<measurement>.by_<dimension>.<testId>, one series per dimension (NS1 compatible). ' +
        'tags: <prefix>.<measurement> tagged testid plus every dimension.',
    }),
    prefix: Type.String({ pattern: METRIC_NAME_PATTERN, maxLength: 100, default: 'catchpoint' }),
  },
  { additionalProperties: false, default: {} },
);

export const TsdbAuth = Type.Object(
  {
    secretRef: Type.Object(
      {
        name: SecretName,
        usernameKey: Type.Optional(Type.String({ pattern: SECRET_KEY_PATTERN, maxLength: 253 })),
        passwordKey: Type.Optional(Type.String({ pattern: SECRET_KEY_PATTERN, maxLength: 253 })),
        tokenKey: Type.Optional(Type.String({ pattern: SECRET_KEY_PATTERN, maxLength: 253 })),
      },
      {
        additionalProperties: false,
        'x-kubernetes-validations': [
          {
            rule: 'has(self.tokenKey) != (has(self.usernameKey) && has(self.passwordKey))',
            message: 'set either tokenKey (bearer) or both usernameKey and passwordKey (basic)',
          },
        ],
      },
    ),
  },
  { additionalProperties: false },
);

export const TsdbTls = Type.Object(
  {
    caRef: Type.Optional(
      Type.Object(
        {
          secretName: Type.Optional(SecretName),
          configMapName: Type.Optional(ConfigMapName),
          key: SecretKey('ca.crt', 'Key holding the PEM bundle.'),
        },
        {
          additionalProperties: false,
          description:
            "PEM bundle of the CAs that may sign the TSDB's certificate, from a Secret or a ConfigMap " +
            "(e.g. cert-manager's ca.crt, or the kube-root-ca.crt ConfigMap). It replaces the public " +
            'roots; without it the server must have a publicly trusted certificate.',
          'x-kubernetes-validations': [
            {
              rule: 'has(self.secretName) != has(self.configMapName)',
              message: 'caRef takes exactly one of secretName and configMapName',
            },
          ],
        },
      ),
    ),
    clientCertSecretRef: Type.Optional(
      Type.Object(
        {
          name: SecretName,
          certKey: SecretKey('tls.crt', 'Key holding the PEM client certificate (and its intermediates).'),
          keyKey: SecretKey('tls.key', 'Key holding the PEM private key (unencrypted).'),
        },
        {
          additionalProperties: false,
          description:
            'Client certificate for mutual TLS, e.g. a kubernetes.io/tls Secret, for a TSDB (or the proxy ' +
            'in front of it) that asks for one.',
          'x-kubernetes-validations': [
            { rule: 'self.certKey != self.keyKey', message: 'certKey and keyKey must be two different keys' },
          ],
        },
      ),
    ),
    serverName: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$',
        maxLength: 253,
        description:
          "DNS name the server's certificate must carry (and the SNI sent), when it is not the endpoint's " +
          'host: endpoints by IP address, through a tunnel or a load balancer.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'TLS to the https:// endpoints (not tcp:// or file://). The certificate is always verified; a ' +
      'change to the referenced Secrets or ConfigMap applies live.',
  },
);

export const TsdbSpec = Type.Object(
  {
    endpoints: Type.Array(
      Type.String({
        maxLength: 2048,
        'x-kubernetes-validations': [
          {
            rule: "self.matches('^(https?|tcp)://[^/?#\\\\s]+(/[^?#\\\\s]*)?$') || self.matches('^file:///[^?#]+$')",
            message: 'endpoints must be http(s)://host:port, tcp://host:port or file:///path',
          },
        ],
      }),
      {
        minItems: 1,
        maxItems: 8,
        description:
          'OpenTSDB endpoints, tried in order: http(s):// → /api/put, tcp:// → telnet put, file:// → put lines appended to a file.',
      },
    ),
    maxTags: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 8,
      description: "The TSDB's tag limit (OpenTSDB tsd.storage.max_tags, 8 by default).",
    }),
    batchMaxPoints: Type.Integer({ minimum: 1, maximum: 10000, default: 500 }),
    batchMaxDelay: Duration('200ms', 'Longest a point waits for its batch to fill.'),
    maxRequestBytes: Type.Integer({
      minimum: 512,
      maximum: 67108864,
      default: 8000,
      description: 'Largest /api/put body on the wire; stock OpenTSDB refuses bodies over 8192 bytes.',
    }),
    gzip: Type.Boolean({ default: true, description: 'Compress /api/put bodies (OpenTSDB ≥ 2.1).' }),
    timeout: Duration('10s', 'Per-request timeout.'),
    auth: Type.Optional(TsdbAuth),
    tls: Type.Optional(TsdbTls),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: "!has(self.tls) || self.endpoints.exists(e, e.startsWith('https://'))",
        message: 'tsdb.tls applies to https:// endpoints only: none is configured',
      },
    ],
  },
);

export const SpoolSpec = Type.Object(
  {
    maxBytes: Type.String({
      pattern: QUANTITY_PATTERN,
      maxLength: 16,
      default: DEFAULT_SPOOL_MAX_BYTES,
      description:
        'Disk the write-ahead spool may use; past it pushes get 503 and Catchpoint retries. ' +
        `The spool's volume (deployment.spoolVolumeSize, or the claim's size) holds it plus ${SPOOL_HEADROOM} of headroom.`,
    }),
    durability: Type.Union([Type.Literal('fsync'), Type.Literal('buffered')], {
      default: 'fsync',
      description:
        'fsync: a push is acknowledged once on disk (group commit); survives a node crash. ' +
        'buffered: acknowledged once written to the OS; survives a process crash only.',
    }),
    storage: Type.Object(
      {
        type: Type.Union([Type.Literal('emptyDir'), Type.Literal('persistentVolumeClaim')], {
          default: 'emptyDir',
          description:
            'emptyDir: the spool lives and dies with its pod (a stopping pod delivers, then hands what is left to a peer); the bridges run as a Deployment. ' +
            'persistentVolumeClaim: each replica has its own claim and a deleted pod comes back to its spool; the bridges run as a StatefulSet.',
        }),
        persistentVolumeClaim: Type.Optional(
          Type.Object(
            {
              size: Type.String({
                pattern: QUANTITY_PATTERN,
                maxLength: 16,
                description: `Storage each replica's claim requests: at least spool.maxBytes plus ${SPOOL_HEADROOM}.`,
              }),
              storageClassName: Type.Optional(
                Type.String({
                  pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$',
                  description: "The claims' StorageClass; the cluster's default class when unset.",
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
      },
      {
        additionalProperties: false,
        // Whole, not {}: the API server checks a default against the rules without defaulting inside it.
        default: { type: 'emptyDir' },
        description:
          'Where the spool lives. Fixed when the CatchpointBridge is created (a StatefulSet cannot change its claims).',
        'x-kubernetes-validations': [
          {
            rule: "self.type != 'persistentVolumeClaim' || has(self.persistentVolumeClaim)",
            message:
              'spool.storage.type persistentVolumeClaim needs spool.storage.persistentVolumeClaim.size',
          },
          {
            rule: 'self == oldSelf',
            message:
              'spool.storage is fixed when the CatchpointBridge is created (a StatefulSet cannot change its claims): create a new CatchpointBridge to change it',
          },
        ],
      },
    ),
  },
  { additionalProperties: false, default: {} },
);

const Quantity = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$', maxLength: 32 });
export const ResourceList = Type.Object(
  {
    cpu: Type.Optional(Quantity),
    memory: Type.Optional(Quantity),
    'ephemeral-storage': Type.Optional(Quantity),
  },
  { additionalProperties: false },
);

export const DeploymentSpec = Type.Object(
  {
    replicas: Type.Integer({ minimum: 0, maximum: 100, default: 2 }),
    autoscaling: Type.Optional(
      Type.Object(
        {
          minReplicas: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
          maxReplicas: Type.Integer({ minimum: 1, maximum: 100 }),
          targetCPUUtilizationPercentage: Type.Integer({ minimum: 1, maximum: 100, default: 70 }),
        },
        {
          additionalProperties: false,
          'x-kubernetes-validations': [
            {
              rule: 'self.minReplicas <= self.maxReplicas',
              message: 'minReplicas must not exceed maxReplicas',
            },
          ],
        },
      ),
    ),
    resources: Type.Object(
      {
        requests: Type.Optional(ResourceList),
        limits: Type.Optional(ResourceList),
      },
      {
        additionalProperties: false,
        default: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
      },
    ),
    spoolVolumeSize: Type.Optional(
      Type.String({
        pattern: QUANTITY_PATTERN,
        maxLength: 16,
        description:
          `Size limit of each pod's spool emptyDir: at least spool.maxBytes plus ${SPOOL_HEADROOM} of headroom, ` +
          'since a pod that writes past it is evicted and its spool goes with it. Unset, the operator sets ' +
          `${formatQuantity(DEFAULT_SPOOL_VOLUME_BYTES)}, or spool.maxBytes plus the headroom when that is more ` +
          '(a change of maxBytes beyond that rolls the pods).',
      }),
    ),
    ingress: Type.Optional(
      Type.Object(
        {
          host: Type.String({
            pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$',
            maxLength: 253,
          }),
          className: Type.Optional(Type.String({ maxLength: 253 })),
          tlsSecretName: Type.Optional(SecretName),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, default: {} },
);

export const CatchpointBridgeSpec = Type.Object(
  {
    catchpoint: CatchpointSpec,
    push: PushSpec,
    dimensions: Type.Array(Type.Union(DIMENSIONS.map((d) => Type.Literal(d))), {
      minItems: 1,
      maxItems: DIMENSIONS.length,
      uniqueItems: true,
      default: [...SEED_DIMENSIONS],
      'x-kubernetes-list-type': 'set',
      description: "Dimensions the datapoints are sliced by (the seed's seven by default).",
    }),
    measurements: Type.Array(Type.String({ pattern: MEASUREMENT_PATTERN, maxLength: 64 }), {
      minItems: 1,
      maxItems: 32,
      uniqueItems: true,
      default: ['rtt', 'status'],
      'x-kubernetes-list-type': 'set',
    }),
    naming: NamingSpec,
    tsdb: TsdbSpec,
    spool: SpoolSpec,
    deployment: DeploymentSpec,
    paused: Type.Boolean({ default: false, description: 'Operator leaves the bridge as it is while true.' }),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: "self.naming.layout != 'tags' || size(self.dimensions.filter(d, d != 'node' && d != 'test')) + 2 <= self.tsdb.maxTags",
        message:
          'the tags layout tags each point with testid, nodeid and every other dimension: that is more tags than tsdb.maxTags allows',
      },
      {
        rule: "self.naming.layout != 'seed' || 3 <= self.tsdb.maxTags",
        message: 'the seed layout needs tsdb.maxTags of at least 3 (nodeid, the dimension, status)',
      },
      spoolFitsRule(
        "self.spool.storage.type == 'persistentVolumeClaim' || !has(self.deployment.spoolVolumeSize)",
        'deployment.spoolVolumeSize',
        ': raise spoolVolumeSize, or leave it out for the operator to size the volume',
      ),
      spoolFitsRule(
        "self.spool.storage.type != 'persistentVolumeClaim' || !has(self.spool.storage.persistentVolumeClaim)",
        'spool.storage.persistentVolumeClaim.size',
      ),
    ],
  },
);

/**
 * The CEL rule that spool.maxBytes plus the headroom fits the spool's volume at `volume` (a path
 * under spec), unless `exempt` holds. Both fields are there: spool and deployment default to {},
 * and maxBytes to 512Mi. The API server runs a rule even when a pattern failed: isQuantity leaves
 * that to the pattern.
 */
function spoolFitsRule(exempt: string, volume: string, advice = '') {
  const fits = `spec.spool.maxBytes plus ${SPOOL_HEADROOM} of headroom must fit spec.${volume}`;
  return {
    rule:
      `${exempt} || !isQuantity(self.spool.maxBytes) || !isQuantity(self.${volume}) || ` +
      `quantity(self.spool.maxBytes).add(quantity('${SPOOL_HEADROOM}')).compareTo(quantity(self.${volume})) <= 0`,
    messageExpression:
      `'spec.spool.maxBytes (' + self.spool.maxBytes + ') plus ${SPOOL_HEADROOM} of headroom must fit ` +
      `spec.${volume} (' + self.${volume} + ')${advice}'`,
    message: fits,
    fieldPath: `.${volume}`,
  };
}

export const Condition = Type.Object(
  {
    type: Type.String({ maxLength: 316 }),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    lastTransitionTime: Type.String({ format: 'date-time', maxLength: 64 }),
    reason: Type.String({ maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: Type.String({ maxLength: 32768 }),
  },
  { additionalProperties: false },
);

export const BridgeReport = Type.Object(
  {
    configGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    directorySize: Type.Optional(Type.Integer({ minimum: 0 })),
    directoryUpdatedAt: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
    lastPushAt: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
    datapointsWritten: Type.Optional(Type.Integer({ minimum: 0 })),
    spoolBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    tsdbError: Type.Optional(
      Type.Object(
        {
          endpoint: Type.String({
            maxLength: 2048,
            description: 'The endpoint, without credentials or query.',
          }),
          code: Type.String({ maxLength: 64, description: 'e.g. CPB_ERR_TSDB_TLS (docs/errors.md).' }),
          message: Type.String({ maxLength: 1024 }),
          since: Type.String({ format: 'date-time', maxLength: 64, description: 'First failure in a row.' }),
        },
        {
          additionalProperties: false,
          description:
            'Why TSDB writes are failing right now (TLS handshake, connection, HTTP status); removed once a ' +
            'write succeeds. The points wait in the spool meanwhile.',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Written by the bridge (rate-limited, only on change); the operator never writes it.',
  },
);

export const CatchpointBridgeStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    conditions: Type.Optional(
      Type.Array(Condition, {
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    replicas: Type.Optional(Type.Integer({ minimum: 0 })),
    readyReplicas: Type.Optional(Type.Integer({ minimum: 0 })),
    replicasSummary: Type.Optional(Type.String({ maxLength: 32 })),
    endpoint: Type.Optional(Type.String({ maxLength: 2048 })),
    bridge: Type.Optional(BridgeReport),
  },
  { additionalProperties: false },
);

/** Every schema that is part of the published API, for reference docs. */
export const schemas: Record<string, TSchema> = {
  CatchpointBridgeSpec,
  CatchpointBridgeStatus,
};
