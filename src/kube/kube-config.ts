/**
 * Where our processes get their Kubernetes credentials.
 *
 * In a pod, `KUBERNETES_SERVICE_HOST` is set and the ServiceAccount token is mounted: use it
 * directly (client-node re-reads the token file every minute, so bound-token rotation works).
 * An explicit `KUBECONFIG` wins even in a pod (debugging, or acting for another identity).
 * Elsewhere, client-node's default search applies: `$KUBECONFIG`, then `~/.kube/config`.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  return kc;
}

/**
 * The namespace this process runs in (for its Lease and Events): `POD_NAMESPACE` from the downward
 * API, else the current context's namespace (in a pod: the ServiceAccount namespace file), else
 * the mounted namespace file.
 */
export function ownNamespace(kc: KubeConfig): string | undefined {
  const fromEnv = process.env.POD_NAMESPACE?.trim();
  if (fromEnv) return fromEnv;
  const fromContext = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim();
  if (fromContext) return fromContext;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
