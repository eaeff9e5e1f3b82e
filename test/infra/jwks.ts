// A token issuer for Temporal's own authorization in tests: an ES256 key pair made per run, its
// public key served as JWKS on loopback by a process of its own (the Temporal server fetches it,
// also while this process is blocked in a synchronous call), and tokens carrying a `permissions`
// claim ("default:write", "temporal-system:admin") as Temporal's default claim mapper reads it.
// The same process is an OpenID Connect provider STAND-IN for the Web UI's login: discovery,
// an authorization endpoint that signs the user in at once (no login page) and a token endpoint
// issuing an ID token (the UI server checks its signature, audience and nonce) and an access token
// with `loginPermissions` (the UI passes it to the frontend).
import { type ChildProcess, spawn } from 'node:child_process';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { until } from './until';

export interface Issuer {
  /** The OIDC provider URL (its discovery document's issuer). */
  url: string;
  jwksUrl: string;
  /** A token for these permissions, good for two hours. */
  token(permissions: string[], subject?: string): Promise<string>;
  stop(): void;
}

export interface OidcLogin {
  clientId: string;
  clientSecret: string;
  /** Who signs in through the authorization endpoint, and what the access token lets them do. */
  subject: string;
  permissions: string[];
}

const SERVE = `
const { createPrivateKey, createSign, randomBytes } = require('node:crypto');
const [jwks, port] = process.argv.slice(1);
const { key, kid, login } = JSON.parse(process.env.REKEY_TEST_ISSUER);
const privateKey = createPrivateKey({ key, format: 'jwk' });
const base = 'http://127.0.0.1:' + port;
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims) => {
  const now = Math.floor(Date.now() / 1000);
  const body = b64({ alg: 'ES256', kid, typ: 'JWT' }) + '.' + b64({ iss: base, iat: now, exp: now + 3600, ...claims });
  const sig = createSign('SHA256').update(body).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
  return body + '.' + sig.toString('base64url');
};
const codes = new Map();
const json = (res, status, o) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(o));
require('node:http')
  .createServer((req, res) => {
    const url = new URL(req.url, base);
    if (url.pathname === '/jwks.json') return res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    if (!login) return res.writeHead(404).end();
    if (url.pathname === '/.well-known/openid-configuration')
      return json(res, 200, {
        issuer: base,
        authorization_endpoint: base + '/authorize',
        token_endpoint: base + '/token',
        jwks_uri: base + '/jwks.json',
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
      });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== login.clientId) return json(res, 400, { error: 'unauthorized_client' });
      const code = randomBytes(16).toString('hex');
      codes.set(code, q.get('nonce'));
      const back = new URL(q.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state'));
      return res.writeHead(302, { location: back.toString() }).end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const basic = Buffer.from((req.headers.authorization || '').replace(/^Basic /, ''), 'base64').toString();
        const [id, secret] = basic ? basic.split(':').map(decodeURIComponent) : [form.get('client_id'), form.get('client_secret')];
        if (id !== login.clientId || secret !== login.clientSecret) return json(res, 401, { error: 'invalid_client' });
        const code = form.get('code');
        if (!codes.has(code)) return json(res, 400, { error: 'invalid_grant' });
        const nonce = codes.get(code);
        codes.delete(code);
        json(res, 200, {
          token_type: 'Bearer',
          expires_in: 3600,
          access_token: jwt({ sub: login.subject, permissions: login.permissions }),
          id_token: jwt({ sub: login.subject, aud: login.clientId, nonce, email: login.subject + '@example.com' }),
        });
      });
      return;
    }
    res.writeHead(404).end();
  })
  .listen(Number(port), '127.0.0.1', () => console.log('listening'));
`;

export async function startIssuer(port: number, login?: OidcLogin): Promise<Issuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `rekey-test-${Date.now()}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const server: ChildProcess = spawn(
    process.execPath,
    ['-e', SERVE, JSON.stringify({ keys: [jwk] }), String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      // The key the provider signs with, made for this run (in the environment, not the command line).
      env: {
        ...process.env,
        REKEY_TEST_ISSUER: JSON.stringify({ key: await exportJWK(privateKey), kid, login }),
      },
    },
  );
  let out = '';
  server.stdout?.on('data', (d) => {
    out += d;
  });
  await until('the JWKS server', () => (out.includes('listening') ? true : undefined));
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    jwksUrl: `${url}/jwks.json`,
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
