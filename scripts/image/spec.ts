/**
 * What the product's image is, as config: one source for both builds of it. `npm run image`
 * (scripts/image/build.ts) writes these facts into the OCI config, and a unit test
 * (test/unit/deploy/dockerfile.test.ts) fails when deploy/Dockerfile's final stage says otherwise,
 * so the image built without Docker and the one built with it start the same way.
 */
import { BRIDGE_PORT, BRIDGE_UID } from '../../src/operator/catchpoint-bridge/desired.ts';
import { RUNTIME_NODE_FLAGS } from '../../src/shared/node-flags.ts';

export const IMAGE_NAME = 'catchpoint-bridge';
/** The repository a local node (cluster:up --node, the demo, the tests) knows the image by. */
export const LOCAL_REPOSITORY = `localhost/${IMAGE_NAME}`;

/** Where the distroless base keeps Node; the image built here puts it at the same path. */
export const NODE_BINARY = '/nodejs/bin/node';
export const APP_DIR = '/app';

/** Numeric, so Kubernetes can verify runAsNonRoot; the chart and the operator use the same UID. */
export const IMAGE_UID = BRIDGE_UID;
export const IMAGE_USER = `${IMAGE_UID}:${IMAGE_UID}`;
/** The name /etc/passwd gives BRIDGE_UID (distroless's word for its non-root user). */
export const IMAGE_USER_NAME = 'nonroot';

export const IMAGE_ENTRYPOINT: readonly string[] = [
  NODE_BINARY,
  ...RUNTIME_NODE_FLAGS,
  `${APP_DIR}/bin/catchpoint-bridge.js`,
];
export const IMAGE_CMD: readonly string[] = ['--help'];
export const IMAGE_WORKDIR = APP_DIR;

/** The variables deploy/Dockerfile sets with ENV. */
export const APP_ENV: readonly string[] = ['NODE_ENV=production'];
/** What the Dockerfile's base image supplies and an image built from scratch must set itself. */
export const BASE_ENV: readonly string[] = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
];

/** The bridge's HTTP port (push, probes, metrics) and the operator's metrics (src/cli.ts). */
export const EXPOSED_PORTS: readonly number[] = [BRIDGE_PORT, 8081];

/** The labels deploy/Dockerfile sets; builds add the version and the revision. */
export const STATIC_LABELS: Readonly<Record<string, string>> = {
  'org.opencontainers.image.title': 'catchpoint-bridge',
  'org.opencontainers.image.description':
    'Catchpoint Test Data Webhook to OpenTSDB bridge, and its Kubernetes operator',
  'org.opencontainers.image.licenses': 'Apache-2.0',
};

/** The `config` object of an OCI image config (the runtime part of the image-spec's config.json). */
export interface ImageRuntimeConfig {
  User: string;
  ExposedPorts: Record<string, Record<string, never>>;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  WorkingDir: string;
  Labels: Record<string, string>;
}

export function imageRuntimeConfig(build: { version: string; revision: string }): ImageRuntimeConfig {
  return {
    User: IMAGE_USER,
    ExposedPorts: Object.fromEntries(EXPOSED_PORTS.map((port) => [`${port}/tcp`, {}])),
    Env: [...BASE_ENV, ...APP_ENV],
    Entrypoint: [...IMAGE_ENTRYPOINT],
    Cmd: [...IMAGE_CMD],
    WorkingDir: IMAGE_WORKDIR,
    Labels: {
      ...STATIC_LABELS,
      'org.opencontainers.image.version': build.version,
      'org.opencontainers.image.revision': build.revision,
    },
  };
}
