// A token issuer for Temporal's own authorization in tests: an ES256 key pair made per run, its
// public key served as JWKS on loopback by a process of its own (the Temporal server fetches it,
// also while this process is blocked in a synchronous call), and tokens carrying a `permissions`
// claim ("default:write", "temporal-system:admin") as Temporal's default claim mapper reads it.
import { type ChildProcess, spawn } from 'node:child_process';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { until } from './until';

export interface Issuer {
  jwksUrl: string;
  /** A token for these permissions, good for two hours. */
  token(permissions: string[], subject?: string): Promise<string>;
  stop(): void;
}

const SERVE = `
const [jwks, port] = process.argv.slice(1);
require('node:http')
  .createServer((req, res) => {
    if (req.url !== '/jwks.json') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  })
  .listen(Number(port), '127.0.0.1', () => console.log('listening'));
`;

export async function startIssuer(port: number): Promise<Issuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `rekey-test-${Date.now()}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const server: ChildProcess = spawn(
    process.execPath,
    ['-e', SERVE, JSON.stringify({ keys: [jwk] }), String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  server.stdout?.on('data', (d) => {
    out += d;
  });
  await until('the JWKS server', () => (out.includes('listening') ? true : undefined));
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    token: (permissions, subject = 'rekey-test') =>
      new SignJWT({ permissions })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(privateKey),
    stop: () => server.kill(),
  };
}
