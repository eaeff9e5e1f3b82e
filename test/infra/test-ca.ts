// A private CA and one server certificate signed by it, made with openssl for a test server that
// serves TLS (the Key Vault stand-in, kube-apiserver): clients trust ca.pem, nothing turns TLS
// checks off. Files in `dir`: ca.pem, ca-key.pem, server.pem, server-key.pem.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServerCertificate {
  /** The CA's subject common name. */
  caName: string;
  /** The server certificate's subject common name. */
  serverName: string;
  /** subjectAltName entries, e.g. `DNS:localhost`, `IP:127.0.0.1`. */
  sans: string[];
  days: number;
}

export function makeServerCertificate(dir: string, c: ServerCertificate): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const days = ['-days', String(c.days)];
  ssl(
    'req',
    '-x509',
    ...ec,
    ...days,
    '-subj',
    `/CN=${c.caName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    f('ca-key.pem'),
    '-out',
    f('ca.pem'),
  );
  ssl('req', ...ec, '-subj', `/CN=${c.serverName}`, '-keyout', f('server-key.pem'), '-out', f('server.csr'));
  writeFileSync(
    f('ext.cnf'),
    `subjectAltName=${c.sans.join(',')}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca-key.pem'),
    '-CAcreateserial',
    ...days,
    '-extfile',
    f('ext.cnf'),
    '-out',
    f('server.pem'),
  );
}
