/**
 * Throwaway certificate authorities for TLS tests, made with the openssl CLI (scripts/setup.sh
 * installs it): P-256 keys, valid for two days, in a temporary directory of their own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  name: string;
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface LeafOptions {
  dns?: string[];
  ips?: string[];
  /** A client certificate (extendedKeyUsage clientAuth) instead of a server one. */
  client?: boolean;
}

export interface TestPki {
  dir: string;
  /** A self-signed CA. */
  ca(name: string): Pem;
  /** A certificate for `name` signed by `ca`. */
  issue(ca: Pem, name: string, options?: LeafOptions): Pem;
  close(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'cpb-pki-'));
  const pem = (name: string): Pem => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    return {
      name,
      certFile,
      keyFile,
      cert: readFileSync(certFile, 'utf8'),
      key: readFileSync(keyFile, 'utf8'),
    };
  };
  return {
    dir,
    ca(name) {
      openssl(
        [
          'req',
          '-x509',
          ...KEY,
          '-keyout',
          `${name}.key`,
          '-out',
          `${name}.crt`,
          '-days',
          '2',
          '-subj',
          `/CN=${name}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        dir,
      );
      return pem(name);
    },
    issue(ca, name, options = {}) {
      const sans = [
        ...(options.dns ?? []).map((d) => `DNS:${d}`),
        ...(options.ips ?? []).map((i) => `IP:${i}`),
      ];
      const ext = [
        'basicConstraints=CA:FALSE',
        `extendedKeyUsage=${options.client ? 'clientAuth' : 'serverAuth'}`,
        ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      ];
      writeFileSync(join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
      openssl(['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          ca.certFile,
          '-CAkey',
          ca.keyFile,
          '-CAcreateserial',
          '-out',
          `${name}.crt`,
          '-days',
          '2',
          '-extfile',
          `${name}.ext`,
        ],
        dir,
      );
      return pem(name);
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
