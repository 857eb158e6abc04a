// Throwaway PKI for one control plane, generated with the system `openssl` (no npm dependency).
//
// One CA signs both the apiserver's serving certificate and the admin client certificate, so a single
// CA file serves as `--client-ca-file` and as the kubeconfig's certificate-authority-data.
// The admin is in O=system:masters, which the apiserver authorizes ahead of RBAC, so it works
// even before the RBAC bootstrap policy exists. Service-account tokens are signed with a separate
// EC key pair, as envtest does.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NODE_NETWORK } from './node-host.ts';

const execFileAsync = promisify(execFile);

// Long enough for a demo cluster left up over a holiday; short enough that a leaked key is useless.
const VALIDITY_DAYS = 30;

export interface CertPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

/** PEM text of the credentials a client needs: CA to trust, plus the admin client pair. */
export interface AdminCredentials {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export function certPathsIn(dir: string): CertPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub'),
  };
}

export async function generateCerts(dir: string): Promise<CertPaths> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = certPathsIn(dir);
  await openssl(dir, [
    ...['req', '-x509', '-new', '-nodes', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt'],
    ...['-days', String(VALIDITY_DAYS), '-subj', '/CN=catchpoint-bridge-test-ca'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  await Promise.all([
    issueCertificate(dir, 'apiserver', '/CN=kube-apiserver', [
      // Loopback for host clients; the node's bridge address and the `kubernetes` Service's
      // ClusterIP and names for pods on a real node (node-host.ts).
      `subjectAltName=${SERVING_SANS.join(',')}`,
      'extendedKeyUsage=serverAuth',
      'keyUsage=critical,digitalSignature,keyEncipherment',
    ]),
    issueCertificate(dir, 'admin', '/O=system:masters/CN=admin', [
      'extendedKeyUsage=clientAuth',
      'keyUsage=critical,digitalSignature,keyEncipherment',
    ]),
    generateServiceAccountKeys(dir),
  ]);
  // The CA key has done its job; nothing needs to sign anything later.
  await rm(join(dir, 'ca.key'));
  return paths;
}

export async function readAdminCredentials(paths: CertPaths): Promise<AdminCredentials> {
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(paths.caCert, 'utf8'),
    readFile(paths.adminCert, 'utf8'),
    readFile(paths.adminKey, 'utf8'),
  ]);
  return { caPem, certPem, keyPem };
}

const SERVING_SANS = [
  'IP:127.0.0.1',
  'IP:::1',
  'DNS:localhost',
  `IP:${NODE_NETWORK.nodeIp}`,
  `IP:${NODE_NETWORK.kubernetesServiceIp}`,
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  `DNS:kubernetes.default.svc.${NODE_NETWORK.clusterDomain}`,
];

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

async function issueCertificate(dir: string, name: string, subject: string, extensions: string[]) {
  const extFile = `${name}.ext`;
  await writeFile(join(dir, extFile), `${extensions.join('\n')}\n`);
  await openssl(dir, [
    'req',
    '-new',
    '-nodes',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);
  // An explicit random serial instead of -CAcreateserial: the certificates are signed concurrently,
  // and a shared ca.srl file would race.
  await openssl(dir, [
    ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key'],
    ...['-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(VALIDITY_DAYS)],
    ...['-extfile', extFile, '-out', `${name}.crt`],
  ]);
  await Promise.all([rm(join(dir, `${name}.csr`)), rm(join(dir, extFile))]);
}

async function generateServiceAccountKeys(dir: string) {
  await openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key']);
  await openssl(dir, ['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new Error(`openssl ${args[0]} failed in ${cwd}: ${stderr || String(err)}`);
  }
}
