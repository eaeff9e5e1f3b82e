// SpacetimeDB STAND-IN, shipped for the quickstart (which assumes no SpacetimeDB and no Docker)
// and used by the tests: no real SpacetimeDB server can publish a module here.
// It behaves like the real one on what rekey depends on:
// - the public key is read once, at start, from the mounted key dir (no hot reload);
// - a token with a bad signature gets 401 (InvalidSignature); identity comes from the token's
//   `iss` and `sub` only, never from the signing key; the first identity to publish a database
//   owns it, and a valid token with another identity gets 403 (not authorized);
// - `serve` publishes once after start, like the guide's container entrypoint, and prints
//   PUBLISH_SUCCESS / PUBLISH_FAILED lines to its log.
// Keyring mode (for overlap rollover): when <appDir>/.generated/keyring.json exists, the service
// loads every key in it at start, signs new tokens with the active one (its kid in the header),
// accepts tokens signed by any key in the ring, lists the kids at /.well-known/jwks.json and
// prints KEYRING_LOADED. POST /v1/token?sub=S issues a token.
// Identity endpoints, answering as spacetimedb-standalone 1.2.0 does (test/spacetimedb-real.test.ts
// checks that both give the same status codes for the same tokens): POST /v1/identity issues an
// identity and a token signed with the mounted private key; GET /v1/identity/public-key serves the
// public key; GET /v1/identity/{identity}/verify answers 204 (the token is valid for it), 400
// (valid, another identity; or not a hex identity), 401 (no token, or a bad one). Unlike the real
// server it does not derive identities from iss/sub with BLAKE3: it reads the token's hex_identity.
// OIDC-backed identity: issuers listed in <appDir>/.standin/oidc-issuers.json ({"<iss>": "<public
// PEM>"}, read at start) are trusted: a token whose `iss` is listed is checked against that key,
// as the real server checks one against the issuer's JWKS (which it fetches; no provider runs
// here). Identity still comes from iss and sub.
// Test hook: while <appDir>/.standin/fail-publish exists, the next publish fails (the file is
// consumed), standing in for a broken deploy.
//
// The database (its owner files) lives in --data-dir, by default <appDir>/data: the dir the
// guide's compose file mounts as the server's data volume, and the one a promotion copies.
//
//   node spacetimedb-standin.js serve   --app-dir D --listen ADDR:PORT [--db NAME] [--data-dir DIR]
//   node spacetimedb-standin.js publish --app-dir D --server http://ADDR:PORT [--db NAME]
import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { parse } from 'smol-toml';

const KEY_FILE = '.generated/spacetimedb-keys/id_ecdsa.pub';
const PRIVATE_KEY_FILE = '.generated/spacetimedb-keys/id_ecdsa';
const CLI_TOML = 'data/.config/spacetime/cli.toml';
const RING_FILE = '.generated/keyring.json';

function identityOf(claims: { iss?: unknown; sub?: unknown }): string {
  return createHash('sha256').update(`${claims.iss}|${claims.sub}`).digest('hex');
}

interface Ring {
  active: string;
  keys: { kid: string; publicPem: string; privatePem?: string }[];
}

function serve(appDir: string, listen: string, db: string, dataDir: string) {
  const ringFile = join(appDir, RING_FILE);
  const ring = existsSync(ringFile) ? (JSON.parse(readFileSync(ringFile, 'utf8')) as Ring) : null;
  const ringKeys = new Map((ring?.keys ?? []).map((k) => [k.kid, createPublicKey(k.publicPem)]));
  const signing = ring?.keys.find((k) => k.kid === ring.active)?.privatePem;
  const publicKey: KeyObject | null = ring
    ? null
    : createPublicKey(readFileSync(join(appDir, KEY_FILE), 'utf8'));
  const ownerFile = (name: string) => join(dataDir, `owner-${name}.json`);
  const publicPem = ring ? null : readFileSync(join(appDir, KEY_FILE), 'utf8');
  const issuersFile = join(appDir, '.standin', 'oidc-issuers.json');
  const issuers = new Map<string, KeyObject>(
    existsSync(issuersFile)
      ? Object.entries(JSON.parse(readFileSync(issuersFile, 'utf8')) as Record<string, string>).map(
          ([iss, pem]) => [iss, createPublicKey(pem)],
        )
      : [],
  );
  const privateFile = join(appDir, PRIVATE_KEY_FILE);
  const privateKey =
    !ring && existsSync(privateFile) ? createPrivateKey(readFileSync(privateFile, 'utf8')) : null;

  /** The identity endpoints (see the header). */
  async function identityRoutes(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (req.method === 'POST' && url.pathname === '/v1/identity' && privateKey) {
      const claims = { iss: 'localhost', sub: randomUUID() };
      const identity = identityOf(claims);
      // Like the real server's tokens: no expiry (exp: null).
      const token = await new SignJWT({
        hex_identity: identity,
        aud: ['spacetimedb'],
        exp: null,
      } as unknown as JWTPayload)
        .setProtectedHeader({ typ: 'JWT', alg: 'ES256' })
        .setIssuer(claims.iss)
        .setSubject(claims.sub)
        .setIssuedAt()
        .sign(privateKey);
      send(res, 200, { identity, token });
      return true;
    }
    if (req.method === 'GET' && url.pathname === '/v1/identity/public-key' && publicPem) {
      res.writeHead(200, { 'content-type': 'application/pem-certificate-chain' });
      res.end(publicPem);
      return true;
    }
    const verify = /^\/v1\/identity\/([^/]+)\/verify$/.exec(url.pathname);
    if (req.method !== 'GET' || !verify || !publicKey) return false;
    const wanted = verify[1] as string;
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
      return true;
    };
    if (!/^[0-9a-f]{64}$/i.test(wanted)) return text(400, `Invalid URL: invalid value: string "${wanted}"`);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return text(401, 'Authorization required');
    let payload: Record<string, unknown>;
    try {
      // The signature only: the real server's tokens carry exp: null, which jwtVerify refuses.
      const { payload: bytes } = await compactVerify(token, publicKey, { algorithms: ['ES256'] });
      payload = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      return text(401, `TokenError(${(err as Error).message})`);
    }
    const identity = typeof payload.hex_identity === 'string' ? payload.hex_identity : identityOf(payload);
    if (identity.toLowerCase() !== wanted.toLowerCase()) return text(400, '');
    res.writeHead(204);
    res.end();
    return true;
  }

  async function authenticate(req: IncomingMessage): Promise<string | null> {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return null;
    try {
      const iss = decodeJwt(token).iss;
      const key =
        (iss && issuers.get(iss)) || publicKey || ringKeys.get(String(decodeProtectedHeader(token).kid));
      if (!key) return null;
      const { payload } = await jwtVerify(token, key, { algorithms: ['ES256'] });
      return identityOf(payload);
    } catch {
      return null;
    }
  }

  function send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    if (req.method === 'GET' && url.pathname === '/v1/identity') return send(res, 200, { ok: true });
    if (await identityRoutes(req, res, url)) return;
    if (ring && url.pathname === '/.well-known/jwks.json') {
      const keys = [...ringKeys].map(([kid, k]) => ({
        ...k.export({ format: 'jwk' }),
        kid,
        alg: 'ES256',
        use: 'sig',
      }));
      return send(res, 200, { keys });
    }
    if (ring && signing && req.method === 'POST' && url.pathname === '/v1/token') {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: ring.active })
        .setIssuer('standin')
        .setSubject(url.searchParams.get('sub') ?? 'anonymous')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(createPrivateKey(signing));
      return send(res, 200, { token, kid: ring.active });
    }
    const identity = await authenticate(req);
    if (url.pathname === '/v1/whoami') {
      return identity ? send(res, 200, { identity }) : send(res, 401, { error: 'InvalidSignature' });
    }
    const m = /^\/v1\/database\/([\w-]+)$/.exec(url.pathname);
    if (req.method === 'POST' && m) {
      const name = m[1] as string;
      if (!identity)
        return send(res, 401, { error: 'InvalidSignature: token not signed by this server key' });
      const file = ownerFile(name);
      const owner = existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as { identity: string }).identity
        : null;
      if (owner && owner !== identity) {
        return send(res, 403, { error: `not authorized to perform action: update database ${name}` });
      }
      if (!owner) {
        mkdirSync(dataDir, { recursive: true });
        writeFileSync(file, JSON.stringify({ identity }));
      }
      return send(res, 200, { database: name, identity });
    }
    send(res, 404, { error: 'not found' });
  });

  const [host, port] = listen.split(':');
  server.listen(Number(port), host, () => {
    console.log(`standin: listening on ${listen}`);
    if (ring) console.log(`KEYRING_LOADED kids=${[...ringKeys.keys()].join(',')} active=${ring.active}`);
    if (existsSync(join(appDir, CLI_TOML))) {
      publish(appDir, `http://${listen}`, db).then(
        (ok) => {
          if (!ok) console.log('standin: publish failed; still serving');
        },
        (err) => console.log(`PUBLISH_FAILED error=${err} database=${db}`),
      );
    }
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** One publish with the cached CLI token; prints the entrypoint's markers. */
async function publish(appDir: string, serverUrl: string, db: string): Promise<boolean> {
  const failFile = join(appDir, '.standin', 'fail-publish');
  if (existsSync(failFile)) {
    rmSync(failFile);
    console.log(`PUBLISH_FAILED forced_by_test database=${db}`);
    return false;
  }
  const doc = parse(readFileSync(join(appDir, CLI_TOML), 'utf8')) as { spacetimedb_token?: string };
  const res = await fetch(`${serverUrl}/v1/database/${db}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${doc.spacetimedb_token ?? ''}` },
  });
  const body = (await res.json()) as { error?: string };
  if (res.status === 200) {
    console.log(`PUBLISH_SUCCESS database=${db} attempt=1`);
    return true;
  }
  if (res.status === 403) {
    console.log(`Error: 403 Forbidden: ${body.error}`);
    console.log(`PUBLISH_FAILED publish_unauthorized database=${db}`);
  } else {
    console.log(`Error: ${res.status}: ${body.error}`);
    console.log(`PUBLISH_FAILED status=${res.status} database=${db}`);
  }
  return false;
}

function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      'app-dir': { type: 'string' },
      listen: { type: 'string' },
      server: { type: 'string' },
      db: { type: 'string', default: 'spacetime' },
      'data-dir': { type: 'string' },
    },
  });
  const appDir = values['app-dir'];
  if (!appDir) throw new Error('--app-dir is required');
  if (positionals[0] === 'serve' && values.listen)
    return serve(appDir, values.listen, values.db, values['data-dir'] ?? join(appDir, 'data'));
  if (positionals[0] === 'publish' && values.server) {
    return void publish(appDir, values.server, values.db).then((ok) => process.exit(ok ? 0 : 1));
  }
  console.error(
    'usage: spacetimedb.js serve --app-dir D --listen ADDR:PORT | publish --app-dir D --server URL',
  );
  process.exit(2);
}

main();
