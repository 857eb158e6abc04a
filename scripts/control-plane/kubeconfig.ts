// Kubeconfig files for the local control plane, in the standard format so kubectl, helm and
// @kubernetes/client-node all read them. Credentials are embedded (…-data fields) so a file stays
// valid on its own, wherever it is copied.
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { AdminCredentials } from './certs.ts';

export const CLUSTER_NAME = 'catchpoint-local';

export interface KubeconfigUser {
  readonly name: string;
  /** Client certificate + key (admin). */
  readonly certPem?: string;
  readonly keyPem?: string;
  /** Bearer token (service accounts). */
  readonly token?: string;
}

export interface KubeconfigSpec {
  readonly server: string;
  readonly caPem: string;
  readonly user: KubeconfigUser;
  /** Default namespace of the context. */
  readonly namespace?: string;
}

export function renderKubeconfig(spec: KubeconfigSpec): string {
  const contextName = `${spec.user.name}@${CLUSTER_NAME}`;
  const user: Record<string, string> = {};
  if (spec.user.certPem !== undefined) user['client-certificate-data'] = base64(spec.user.certPem);
  if (spec.user.keyPem !== undefined) user['client-key-data'] = base64(spec.user.keyPem);
  if (spec.user.token !== undefined) user.token = spec.user.token;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CLUSTER_NAME,
        cluster: { server: spec.server, 'certificate-authority-data': base64(spec.caPem) },
      },
    ],
    users: [{ name: spec.user.name, user }],
    contexts: [
      {
        name: contextName,
        context: {
          cluster: CLUSTER_NAME,
          user: spec.user.name,
          ...(spec.namespace ? { namespace: spec.namespace } : {}),
        },
      },
    ],
    'current-context': contextName,
    preferences: {},
  });
}

export function adminKubeconfigSpec(server: string, admin: AdminCredentials): KubeconfigSpec {
  return {
    server,
    caPem: admin.caPem,
    user: { name: 'admin', certPem: admin.certPem, keyPem: admin.keyPem },
  };
}

/** Writes owner-only: the file holds a cluster-admin key or a token. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  await writeFile(path, renderKubeconfig(spec), { mode: 0o600 });
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
