// Fly.io STAND-IN for tests: no internet here. Over HTTPS with the test CA it keeps what the
// coupled FLY_API_TOKEN rotation touches:
// - API tokens: issued (POST /v1/tokens, standing in for `flyctl tokens create deploy`) and
//   revoked (DELETE /v1/tokens/{id}, `flyctl tokens revoke ID`); a token reads
//   "FlyV1 fm2_<id>_<secret>" (real tokens are macaroons; the id is visible here to keep the
//   test's revoke script short). Every other call needs a live token: 401 otherwise.
// - App secrets: POST /v1/apps/{app}/secrets {NAME: value} (what `flyctl secrets import` sends);
//   values are never returned, only their digests (GET .../secrets).
// - The Machines API (GET /v1/apps/{app}/machines), which the control plane and the image publish
//   call with the token they hold.
// - GET /health/{app}: the control-plane app's health as it reports it: it calls the Machines API
//   with its own FLY_API_TOKEN secret, so it fails (503) when that token is revoked.
// Run as a program it is the `flyctl` stand-in (test/infra/shim/flyctl): `secrets import -a APP`
// (NAME=VALUE lines on stdin), `tokens create deploy`, `tokens revoke ID`, against $FLY_API_HOSTNAME
// with $FLY_ACCESS_TOKEN, as flyctl does.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FlyStandin {
  url: string;
  /** An org token the test (and the flyctl stand-in) uses to manage tokens and secrets. */
  adminToken: string;
  issue(): string;
  live(token: string): boolean;
  secret(app: string, name: string): string | undefined;
  setSecret(app: string, name: string, value: string): void;
  /** How many tokens are live (issued and not revoked), the admin token included. */
  liveCount(): number;
  /** Every token revoked so far. */
  revoked: string[];
  close(): Promise<void>;
}

export async function startFlyStandin(tls: { key: string; cert: string }): Promise<FlyStandin> {
  const tokens = new Map<string, string>(); // id -> token
  const revoked: string[] = [];
  const secrets = new Map<string, Map<string, string>>();
  const issue = () => {
    const id = randomBytes(6).toString('hex');
    const token = `FlyV1 fm2_${id}_${randomBytes(24).toString('base64url')}`;
    tokens.set(id, token);
    return token;
  };
  const live = (token: string) => [...tokens.values()].includes(token);
  const adminToken = issue();
  const appSecrets = (app: string) => {
    const s = secrets.get(app) ?? new Map<string, string>();
    secrets.set(app, s);
    return s;
  };

  const server: Server = createServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const path = new URL(req.url ?? '/', 'https://api.machines.dev').pathname;
      const send = (status: number, body?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      const health = /^\/health\/([\w-]+)$/.exec(path)?.[1];
      if (health) {
        const own = appSecrets(health).get('FLY_API_TOKEN');
        return own && live(own) ? send(200, { ok: true }) : send(503, { error: 'fly api: unauthorized' });
      }
      const bearer = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!live(bearer)) return send(401, { error: 'unauthorized' });
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
      } catch {
        return send(400, { error: 'invalid JSON' });
      }
      if (req.method === 'POST' && path === '/v1/tokens') return send(201, { token: issue() });
      const revoke = /^\/v1\/tokens\/(\w+)$/.exec(path)?.[1];
      if (req.method === 'DELETE' && revoke) {
        const token = tokens.get(revoke);
        if (!token) return send(404, { error: 'not found' });
        tokens.delete(revoke);
        revoked.push(token);
        return send(204);
      }
      const app = /^\/v1\/apps\/([\w-]+)\/(secrets|machines)$/.exec(path);
      if (app && app[2] === 'machines' && req.method === 'GET') return send(200, []);
      if (app && app[2] === 'secrets' && req.method === 'POST') {
        for (const [k, v] of Object.entries(body)) appSecrets(app[1] as string).set(k, String(v));
        return send(200, { release: { version: Date.now() } });
      }
      if (app && app[2] === 'secrets' && req.method === 'GET')
        return send(
          200,
          [...appSecrets(app[1] as string)].map(([name, v]) => ({
            name,
            digest: createHash('sha256').update(v).digest('hex').slice(0, 16),
          })),
        );
      return send(404, { error: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    adminToken,
    issue,
    live,
    secret: (app, name) => secrets.get(app)?.get(name),
    setSecret: (app, name, value) => appSecrets(app).set(name, value),
    liveCount: () => tokens.size,
    revoked,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The flyctl stand-in's commands. */
async function flyctl(args: string[]): Promise<number> {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${process.env.FLY_API_HOSTNAME}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${process.env.FLY_ACCESS_TOKEN}`,
        'content-type': 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`Error: ${method} ${path}: ${res.status}`);
    return res;
  };
  const flag = (name: string) => {
    const i = args.findIndex((a) => a === `--${name}` || a === `-${name[0]}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const [group, command] = args;
  if (group === 'secrets' && command === 'import') {
    const app = flag('app');
    if (!app)
      throw new Error('Error: the config for your app is missing an app name, add an app field or use --app');
    const input = await new Promise<string>((r) => {
      let s = '';
      process.stdin.on('data', (c) => {
        s += c;
      });
      process.stdin.on('end', () => r(s));
    });
    const pairs = Object.fromEntries(
      input
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    await call('POST', `/v1/apps/${app}/secrets`, pairs);
    return 0;
  }
  if (group === 'tokens' && command === 'create') {
    const { token } = (await (await call('POST', '/v1/tokens', {})).json()) as { token: string };
    console.log(token);
    return 0;
  }
  if (group === 'tokens' && command === 'revoke' && args[2]) {
    await call('DELETE', `/v1/tokens/${args[2]}`);
    return 0;
  }
  console.error(
    `flyctl stand-in: "${args.join(' ')}" is not implemented (secrets import, tokens create, tokens revoke ID)`,
  );
  return 2;
}

if (require.main === module) {
  flyctl(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error((err as Error).message);
      process.exit(1);
    },
  );
}
