// Azure Key Vault STAND-IN. The planned emulator, Lowkey Vault, is not obtainable here (Maven
// Central answers 404 for com.github.nagyesta.lowkey-vault:lowkey-vault-app), so this serves the
// part of the Key Vault secrets REST API that rekey uses, closely enough that the real
// @azure/keyvault-secrets client and @azure/identity credential work against it unchanged:
// - HTTPS only, with a certificate from a CA made at first start (trusted via NODE_EXTRA_CA_CERTS);
// - Key Vault's challenge auth: no token -> 401 with WWW-Authenticate, a wrong token -> 401;
// - PUT /secrets/{name} (new version), GET /secrets/{name}[/{version}],
//   GET /secrets/{name}/versions (paged), PATCH /secrets/{name}/{version}; errors in Key Vault's
//   {error:{code,message}} shape; api-version required;
// - one vault per listen address (127.0.0.11-13), state in memory.
// Not implemented: keys, certificates, deletion and recovery, RBAC.
// Test hooks (not part of Key Vault): POST /_standin/faults {status, count, retryAfterSeconds}
// answers the next `count` data requests with that status; GET /_standin/requests lists them.
//
//   node keyvault-standin.js serve --root R --port P
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDetached, stopByPidFile, waitForPort } from './process';

export const KV_PORT = 18443;
export const VAULT_ADDRESSES = { prod: '127.0.0.11', test: '127.0.0.12', dev: '127.0.0.13' } as const;
const TENANT = '00000000-0000-0000-0000-000000000000';

function certificates(dir: string): { key: string; cert: string; ca: string } {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  if (!existsSync(f('server.pem'))) {
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=rekey test CA',
      '-keyout',
      f('ca-key.pem'),
      '-out',
      f('ca.pem'),
    );
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      f('server-key.pem'),
      '-out',
      f('server.csr'),
    );
    const sans = ['DNS:localhost', 'IP:127.0.0.1', ...Object.values(VAULT_ADDRESSES).map((a) => `IP:${a}`)];
    writeFileSync(f('ext.cnf'), `subjectAltName=${sans.join(',')}\n`);
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
      '-days',
      '30',
      '-extfile',
      f('ext.cnf'),
      '-out',
      f('server.pem'),
    );
  }
  return {
    key: readFileSync(f('server-key.pem'), 'utf8'),
    cert: readFileSync(f('server.pem'), 'utf8'),
    ca: f('ca.pem'),
  };
}

interface Version {
  version: string;
  value: string;
  tags: Record<string, string>;
  contentType?: string;
  enabled: boolean;
  created: number;
  updated: number;
}

function serve(root: string, port: number) {
  const dir = join(root, 'keyvault');
  const { key, cert } = certificates(dir);
  const token = readFileSync(join(dir, 'access-token'), 'utf8').trim();
  const vaults = new Map<string, Map<string, Version[]>>();
  let faults: { status: number; count: number; retryAfterSeconds?: number } | null = null;
  const requests: { method: string; path: string; at: number; status: number }[] = [];

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }
  const error = (
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    headers?: Record<string, string>,
  ) => send(res, status, { error: { code, message } }, headers);

  function bundle(base: string, name: string, v: Version, withValue: boolean) {
    return {
      ...(withValue ? { value: v.value } : {}),
      id: `${base}/secrets/${name}/${v.version}`,
      ...(v.contentType ? { contentType: v.contentType } : {}),
      attributes: {
        enabled: v.enabled,
        created: v.created,
        updated: v.updated,
        recoveryLevel: 'Recoverable+Purgeable',
      },
      tags: v.tags,
    };
  }

  async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `https://${req.headers.host}`);
    const raw: Record<string, unknown> = await body(req).catch(() => ({}));
    if (url.pathname.startsWith('/_standin/')) {
      if (req.method === 'POST' && url.pathname === '/_standin/faults') {
        faults = raw as typeof faults;
        return send(res, 200, {});
      }
      if (url.pathname === '/_standin/requests') return send(res, 200, requests);
      return error(res, 404, 'NotFound', 'unknown test hook');
    }
    const record = (status: number) =>
      requests.push({ method: req.method ?? '', path: url.pathname, at: Date.now(), status });
    const challenge = {
      'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`,
    };
    const auth = req.headers.authorization;
    if (!auth) {
      record(401);
      return error(
        res,
        401,
        'Unauthorized',
        'AKV10000: Request is missing a Bearer or PoP token.',
        challenge,
      );
    }
    if (auth !== `Bearer ${token}`) {
      record(401);
      return error(res, 401, 'Unauthorized', 'AKV10032: Invalid issuer.', challenge);
    }
    if (faults && faults.count > 0) {
      faults.count--;
      record(faults.status);
      const headers: Record<string, string> = faults.retryAfterSeconds
        ? { 'retry-after': String(faults.retryAfterSeconds) }
        : {};
      return error(
        res,
        faults.status,
        'Throttled',
        'Request was not processed because too many requests were received.',
        headers,
      );
    }
    if (!url.searchParams.get('api-version')) {
      record(400);
      return error(res, 400, 'BadParameter', 'api-version is required');
    }
    const base = `https://${req.headers.host}`;
    const vault = vaults.get(base) ?? new Map<string, Version[]>();
    vaults.set(base, vault);
    const parts = url.pathname.split('/').filter(Boolean);
    const [kind, name, third] = parts;
    if (kind !== 'secrets' || !name || !/^[0-9a-zA-Z-]{1,127}$/.test(name)) {
      record(400);
      return error(res, 400, 'BadParameter', 'only /secrets/{name} is served');
    }
    const versions = vault.get(name) ?? [];
    const now = Math.floor(Date.now() / 1000);
    const status = (s: number) => {
      record(s);
      return s;
    };
    if (req.method === 'PUT' && !third) {
      if (typeof raw.value !== 'string') return error(res, status(400), 'BadParameter', 'value is required');
      const v: Version = {
        version: randomBytes(16).toString('hex'),
        value: raw.value,
        tags: (raw.tags as Record<string, string>) ?? {},
        ...(typeof raw.contentType === 'string' ? { contentType: raw.contentType } : {}),
        enabled: (raw.attributes as { enabled?: boolean } | undefined)?.enabled ?? true,
        created: now,
        updated: now,
      };
      vault.set(name, [...versions, v]);
      return send(res, status(200), bundle(base, name, v, true));
    }
    if (req.method === 'GET' && third === 'versions') {
      const max = Number(url.searchParams.get('maxresults') ?? 25);
      const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
      const page = versions.slice(skip, skip + max);
      const next =
        skip + max < versions.length
          ? `${base}/secrets/${name}/versions?api-version=${url.searchParams.get('api-version')}&maxresults=${max}&$skiptoken=${skip + max}`
          : null;
      return send(res, status(200), { value: page.map((v) => bundle(base, name, v, false)), nextLink: next });
    }
    const v = third ? versions.find((x) => x.version === third) : versions.at(-1);
    if (!v) {
      return error(
        res,
        status(404),
        'SecretNotFound',
        `A secret with (name/id) ${name}${third ? `/${third}` : ''} was not found in this key vault.`,
      );
    }
    if (req.method === 'GET') {
      if (!v.enabled)
        return error(res, status(403), 'Forbidden', 'Operation get is not allowed on a disabled secret.');
      return send(res, status(200), bundle(base, name, v, true));
    }
    if (req.method === 'PATCH' && third) {
      const attrs = raw.attributes as { enabled?: boolean } | undefined;
      if (attrs?.enabled !== undefined) v.enabled = attrs.enabled;
      if (raw.tags) v.tags = raw.tags as Record<string, string>;
      if (typeof raw.contentType === 'string') v.contentType = raw.contentType;
      v.updated = now;
      return send(res, status(200), bundle(base, name, v, false));
    }
    return error(res, status(405), 'MethodNotAllowed', `${req.method} is not supported here`);
  };

  for (const address of Object.values(VAULT_ADDRESSES)) {
    createServer({ key, cert }, (req, res) => {
      handler(req, res).catch((err) => error(res, 500, 'InternalError', String(err)));
    }).listen(port, address);
  }
}

export async function startKeyVault(root: string, port = KV_PORT) {
  const dir = join(root, 'keyvault');
  const { ca } = certificates(dir);
  const accessToken = randomBytes(24).toString('base64url');
  writeFileSync(join(dir, 'access-token'), accessToken, { mode: 0o600 });
  startDetached(
    process.execPath,
    [__filename, 'serve', '--root', root, '--port', String(port)],
    join(dir, 'server.log'),
    join(dir, 'pid'),
  );
  await Promise.all(Object.values(VAULT_ADDRESSES).map((a) => waitForPort(a, port, 'Key Vault stand-in')));
  const vaults = Object.fromEntries(
    Object.entries(VAULT_ADDRESSES).map(([env, a]) => [env, `https://${a}:${port}`]),
  );
  return { vaults: vaults as Record<keyof typeof VAULT_ADDRESSES, string>, caCertPath: ca, accessToken };
}

export async function stopKeyVault(root: string): Promise<void> {
  stopByPidFile(join(root, 'keyvault', 'pid'));
}

if (require.main === module) {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { root: { type: 'string' }, port: { type: 'string' } },
  });
  if (positionals[0] !== 'serve' || !values.root) {
    console.error('usage: keyvault-standin.js serve --root R [--port P]');
    process.exit(2);
  }
  serve(values.root, Number(values.port ?? KV_PORT));
}
