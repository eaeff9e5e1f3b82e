// Azure Key Vault STAND-IN, for tests only. The planned emulator, Lowkey Vault, is not obtainable
// here (Maven Central answers 404 for com.github.nagyesta.lowkey-vault:lowkey-vault-app), so this
// serves the part of the Key Vault secrets REST API that rekey uses, closely enough that the real
// @azure/keyvault-secrets SecretClient with a real @azure/identity credential works unchanged.
//
// Implemented:
// - HTTPS only, with a server certificate (localhost, 127.0.0.1, the vault addresses) from a CA
//   made with openssl at first start and cached under <root>/keyvault; clients trust ca.pem
//   (NODE_EXTRA_CA_CERTS), nothing turns TLS checks off;
// - Key Vault's challenge auth: no token -> 401 with `WWW-Authenticate: Bearer authorization=...,
//   resource="https://vault.azure.net"` (the SDK's challenge policy then gets a token and
//   retries); a token other than the accepted one (<root>/keyvault/access-token) -> 401;
// - PUT /secrets/{name} (new version, 32 hex chars), GET /secrets/{name}[/{version}] (empty
//   version = newest), GET /secrets/{name}/versions (in version-id order; a secret that does not
//   exist lists empty, not 404) and GET /secrets (by name, case-insensitively), both paged
//   (maxresults up to 25; nextLink with an opaque $skiptoken naming the next item, so a write
//   between pages neither repeats nor skips what was there), PATCH /secrets/{name}/{version}
//   (enabled, nbf, exp, tags, contentType; allowed on a disabled version); bodies as the service
//   writes them: no `value` in lists or PATCH answers, `tags`/`contentType`/`nbf`/`exp` only when
//   set; errors in Key Vault's {error:{code,message[,innererror]}} shape (SecretNotFound 404,
//   Forbidden 403 + innererror SecretDisabled on a disabled version, BadParameter 400,
//   MethodNotAllowed 405); Key Vault's response headers (x-ms-request-id, x-ms-client-request-id
//   echoed, x-ms-keyvault-service-version, cache-control, content-length...); `api-version`
//   required and checked for form. Facts observed in the recorded sessions of the Azure SDK for
//   JS (Azure/azure-sdk-for-js sdk/keyvault/keyvault-secrets/recordings/ and Azure/azure-sdk-assets
//   js/sdk/keyvault/keyvault-secrets/recordings/); test/keyvault-parity.test.ts checks them;
// - one vault per listen address and port (127.0.0.11-13, see VAULT_ADDRESSES), state in memory;
// - Key Vault's service limits when started with --throttle W,R,MS (a sliding window per vault: W
//   secret creates (PUT, a new version) and R other requests in any MS milliseconds, 429 Throttled with Retry-After beyond them,
//   as the service answers past 300 writes / 4,000 reads per 10 s: the published limits per vault
//   and region, "CREATE secret" and "all other transactions", in
//   https://learn.microsoft.com/azure/key-vault/general/service-limits).
// Not implemented: keys, certificates, deletion/recovery/purge, backup/restore, RBAC, token
// validation beyond comparing with the accepted token, expiry (`exp`/`nbf`) enforcement (they
// are kept and returned only), `managed`/`kid` (certificate-backed secrets), short pages.
//
// Test hooks (not part of Key Vault, no auth, per vault i.e. per address):
//   POST /_standin/faults {status, count, retryAfterSeconds?, secret?, method?} : the next `count` data
//     requests (for `secret` only, when given) are answered with `status` (+ Retry-After); it
//     replaces the rule for the same scope, so count 0 clears it;
//   GET  /_standin/requests[?secret=NAME] : the data requests seen {method, path, secret, at, status};
//   POST /_standin/reset : forget this vault's secrets, faults and requests;
//   GET  /_standin/health : {pid}, so a starter can tell its own server from a stale one;
//   GET  /_standin/stats : {writes, reads, throttled, early, earlyMs}: requests served, 429s
//     sent, requests for a secret that came before the Retry-After its last 429 gave ran out, and
//     how long before it they came, added up;
//   POST /_standin/throttle {on} : the --throttle limits off (seeding) or on again (every vault).
//
//   node dist/test/infra/keyvault-standin.js serve --root R [--port P]
//     [--listen ADDR:PORT,...] [--throttle W,R,MS]
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDetached, stopByPidFile, waitForPort } from './process';
import { makeServerCertificate } from './test-ca';

export const KV_PORT = 18443;
export const VAULT_ADDRESSES = { prod: '127.0.0.11', test: '127.0.0.12', dev: '127.0.0.13' } as const;
const TENANT = '00000000-0000-0000-0000-000000000000';
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const API_VERSION = /^(\d+\.\d+|\d{4}-\d{2}-\d{2})(-preview(\.\d+)?)?$/;
/** The x-ms-keyvault-service-version the service sent in the newest recorded sessions
 * (Azure/azure-sdk-assets js/sdk/keyvault/keyvault-secrets/recordings/node/listoperations/). */
const SERVICE_VERSION = '1.9.3070.2';

/** The bearer token the stand-in at `root` accepts (what a test's credential should return). */
export function standinAccessToken(root: string): string {
  return readFileSync(join(root, 'keyvault', 'access-token'), 'utf8').trim();
}

/** The TLS key and certificate the stand-ins serve (one test CA, trusted via NODE_EXTRA_CA_CERTS;
 * the certificate names localhost and 127.0.0.1). */
export function standinTls(root: string): { key: string; cert: string; ca: string } {
  return certificates(join(root, 'keyvault'));
}

function certificates(dir: string): { key: string; cert: string; ca: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const fresh = () => {
    try {
      ssl('x509', '-checkend', '86400', '-noout', '-in', f('server.pem'));
      ssl('x509', '-checkend', '86400', '-noout', '-in', f('ca.pem'));
      return existsSync(f('server-key.pem'));
    } catch {
      return false; // missing, unreadable or expiring within a day
    }
  };
  if (!fresh())
    makeServerCertificate(dir, {
      caName: 'rekey test CA (Key Vault stand-in)',
      serverName: 'localhost',
      sans: ['DNS:localhost', 'IP:127.0.0.1', ...Object.values(VAULT_ADDRESSES).map((a) => `IP:${a}`)],
      days: 30,
    });
  return {
    key: readFileSync(f('server-key.pem'), 'utf8'),
    cert: readFileSync(f('server.pem'), 'utf8'),
    ca: f('ca.pem'),
  };
}

interface Version {
  version: string;
  value: string;
  /** Absent until a request sets tags: the service then leaves `tags` out of its answers. */
  tags?: Record<string, string>;
  contentType?: string;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

interface Fault {
  status: number;
  count: number;
  retryAfterSeconds?: number;
  secret?: string;
  /** Only requests with this method (e.g. PUT: the write, not the reads before it). */
  method?: string;
}

interface SeenRequest {
  method: string;
  path: string;
  secret: string | null;
  at: number;
  status: number;
}

interface Vault {
  secrets: Map<string, Version[]>;
  faults: Fault[];
  requests: SeenRequest[];
  /** When each write and read of the last window was served (oldest first). */
  served: { writes: number[]; reads: number[] };
  stats: { writes: number; reads: number; throttled: number; early: number; earlyMs: number };
  /** Per secret: when the Retry-After of its last 429 ends. */
  notBefore: Map<string, number>;
}

export interface Throttle {
  writes: number;
  reads: number;
  windowMs: number;
}

const newVault = (): Vault => ({
  secrets: new Map(),
  faults: [],
  requests: [],
  served: { writes: [], reads: [] },
  stats: { writes: 0, reads: 0, throttled: 0, early: 0, earlyMs: 0 },
  notBefore: new Map(),
});

/** Counts the request in its window if the window has room: at most W writes and R reads in any
 * MS milliseconds, as Key Vault counts; else the seconds until the window's oldest leaves it. */
function take(vault: Vault, t: Throttle, write: boolean): number {
  const now = Date.now();
  const served = vault.served[write ? 'writes' : 'reads'];
  while (served.length && (served[0] as number) <= now - t.windowMs) served.shift();
  if (served.length < (write ? t.writes : t.reads)) {
    served.push(now);
    return 0;
  }
  return Math.max(1, Math.ceil(((served[0] as number) + t.windowMs - now) / 1000));
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function error(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
) {
  send(res, status, { error: { code, message } }, headers);
}

/** The 429 message as the service words it (recorded in vcsjones/AzureSignTool issue #219; no 429
 * is among the SDK's recordings). */
const THROTTLED =
  'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached';

const THROTTLE_CODES: Record<number, [string, string]> = {
  429: ['Throttled', THROTTLED],
  500: ['InternalServerError', 'An unexpected error occurred (injected by the stand-in).'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable (injected by the stand-in).'],
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function serve(root: string, port: number, listen?: string[], throttle?: Throttle) {
  const dir = join(root, 'keyvault');
  const { key, cert } = certificates(dir);
  const token = standinAccessToken(root);
  const vaults = new Map<string, Vault>();
  let throttling = Boolean(throttle);

  // A secret bundle as the service writes it (fields in its order): `value` only where a value is
  // asked for (not in lists, not in PATCH answers), `contentType`, `nbf`, `exp` and `tags` only
  // when set; a vault with the default soft-delete (90 days) reports Recoverable+Purgeable.
  function bundle(base: string, name: string, v: Version, withValue: boolean, id = `${name}/${v.version}`) {
    return {
      ...(withValue ? { value: v.value } : {}),
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
      id: `${base}/secrets/${id}`,
      attributes: {
        enabled: v.enabled,
        ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
        ...(v.exp !== undefined ? { exp: v.exp } : {}),
        created: v.created,
        updated: v.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
      ...(v.tags !== undefined ? { tags: v.tags } : {}),
    };
  }

  // Paging as the service does it: items in key order (version ids; names compared without case),
  // `maxresults` up to 25 (more is taken as 25), and a nextLink carrying api-version, an opaque $skiptoken that names the
  // next item (the service's is base64 JSON {NextMarker, TargetLocation}, the marker being the
  // upper-cased path of the next item) and the client's maxresults, if it gave one, in that order.
  // A page starts at the first item at or after the marker, so a version written between two pages
  // is listed once or not at all and nothing listed before it is repeated or skipped.
  function page<T>(
    url: URL,
    base: string,
    all: { key: string; item: T }[],
  ): { items: T[]; nextLink: string | null } | { bad: string } {
    const given = url.searchParams.get('maxresults');
    const max = Math.min(Math.max(Math.trunc(Number(given ?? 25)) || 25, 1), 25);
    const token = url.searchParams.get('$skiptoken');
    let marker = '';
    if (token !== null) {
      try {
        const m = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { NextMarker?: unknown })
          .NextMarker;
        if (typeof m !== 'string') throw new Error('no marker');
        marker = m;
      } catch {
        return { bad: 'The specified $skiptoken is not valid.' };
      }
    }
    const sorted = [...all].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const from = sorted.filter((x) => x.key >= marker);
    const items = from.slice(0, max).map((x) => x.item);
    const nextItem = from[max];
    if (!nextItem) return { items, nextLink: null };
    const skiptoken = Buffer.from(JSON.stringify({ NextMarker: nextItem.key, TargetLocation: 0 })).toString(
      'base64url',
    );
    const next = new URL(`${base}${url.pathname}`);
    next.searchParams.set('api-version', url.searchParams.get('api-version') ?? '');
    next.searchParams.set('$skiptoken', skiptoken);
    if (given !== null) next.searchParams.set('maxresults', String(max));
    return { items, nextLink: next.toString().replace('%24skiptoken=', '$skiptoken=') };
  }

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const base = `https://${req.headers.host}`;
    const url = new URL(req.url ?? '/', base);
    const vaultKey = `${req.socket.localAddress}:${req.socket.localPort}`;
    let vault = vaults.get(vaultKey);
    if (!vault) {
      vault = newVault();
      vaults.set(vaultKey, vault);
    }
    let raw: unknown;
    try {
      raw = await readBody(req);
    } catch {
      raw = undefined;
    }

    if (url.pathname.startsWith('/_standin/')) {
      const hook = url.pathname.slice('/_standin/'.length);
      if (req.method === 'GET' && hook === 'health') return send(res, 200, { pid: process.pid });
      if (req.method === 'GET' && hook === 'stats') return send(res, 200, vault.stats);
      if (req.method === 'POST' && hook === 'throttle') {
        // Off while a benchmark seeds its vaults; on again with empty windows and fresh counts.
        throttling = (raw as { on?: unknown } | undefined)?.on === true;
        for (const [key, v] of vaults) vaults.set(key, { ...v, ...newVault(), secrets: v.secrets });
        return send(res, 200, { on: throttling });
      }
      if (req.method === 'POST' && hook === 'faults') {
        const f = raw as Partial<Fault> | undefined;
        if (!f || typeof f.status !== 'number' || typeof f.count !== 'number')
          return error(res, 400, 'BadParameter', 'faults: {status: number, count: number} required');
        // A new rule replaces the one for the same scope (one secret, or all); count 0 clears it.
        vault.faults = vault.faults.filter(
          (x) => x.secret !== (typeof f.secret === 'string' ? f.secret : undefined),
        );
        vault.faults.push({
          status: f.status,
          count: f.count,
          ...(typeof f.retryAfterSeconds === 'number' ? { retryAfterSeconds: f.retryAfterSeconds } : {}),
          ...(typeof f.secret === 'string' ? { secret: f.secret } : {}),
          ...(typeof f.method === 'string' ? { method: f.method.toUpperCase() } : {}),
        });
        return send(res, 200, { faults: vault.faults });
      }
      if (req.method === 'GET' && hook === 'requests') {
        const only = url.searchParams.get('secret');
        return send(
          res,
          200,
          only === null ? vault.requests : vault.requests.filter((r) => r.secret === only),
        );
      }
      if (req.method === 'POST' && hook === 'reset') {
        vaults.set(vaultKey, newVault());
        return send(res, 200, {});
      }
      return error(res, 404, 'NotFound', `unknown stand-in hook ${req.method} ${url.pathname}`);
    }

    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const [kind, name, third] = parts;
    const seen: SeenRequest = {
      method: req.method ?? '',
      path: url.pathname,
      secret: kind === 'secrets' && name ? name : null,
      at: Date.now(),
      status: 0,
    };
    vault.requests.push(seen);
    // The headers every answer of the service carries (its recorded sessions), the request's
    // x-ms-client-request-id echoed.
    const clientRequestId = req.headers['x-ms-client-request-id'];
    const common: Record<string, string> = {
      'cache-control': 'no-cache',
      pragma: 'no-cache',
      expires: '-1',
      'strict-transport-security': 'max-age=31536000;includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-ms-keyvault-region': 'standin',
      'x-ms-keyvault-service-version': SERVICE_VERSION,
      'x-ms-keyvault-network-info': `conn_type=Ipv4;addr=${req.socket.remoteAddress ?? ''};act_addr_fam=InterNetwork;`,
      'x-ms-request-id': randomUUID(),
      ...(typeof clientRequestId === 'string' ? { 'x-ms-client-request-id': clientRequestId } : {}),
    };
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      seen.status = status;
      send(res, status, body, { ...common, ...headers });
    };
    const fault = (
      status: number,
      code: string,
      message: string,
      headers?: Record<string, string>,
      innererror?: { code: string },
    ) => reply(status, { error: { code, message, ...(innererror ? { innererror } : {}) } }, headers);
    const notFound = (id: string) =>
      fault(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );

    const challenge = {
      'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`,
    };
    const auth = req.headers.authorization;
    if (!auth) {
      return fault(
        401,
        'Unauthorized',
        'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.',
        challenge,
      );
    }
    if (auth !== `Bearer ${token}`) {
      return fault(401, 'Unauthorized', 'AKV10032: Invalid issuer or token.', challenge);
    }
    if (throttle && throttling && seen.secret) {
      // Key Vault's limits: CREATE secret (a PUT, a new version) has its own; the rest share one.
      const write = req.method === 'PUT';
      const until = vault.notBefore.get(seen.secret);
      const now = Date.now();
      if (until !== undefined && now < until) {
        vault.stats.early++;
        vault.stats.earlyMs += until - now;
      }
      const wait = take(vault, throttle, write);
      if (wait > 0) {
        vault.stats.throttled++;
        vault.notBefore.set(seen.secret, Date.now() + wait * 1000);
        return fault(429, 'Throttled', THROTTLED, { 'retry-after': String(wait) });
      }
      vault.stats[write ? 'writes' : 'reads']++;
    }
    const injected = vault.faults.find(
      (f) => f.count > 0 && (!f.secret || f.secret === seen.secret) && (!f.method || f.method === req.method),
    );
    if (injected) {
      injected.count--;
      const [code, message] = THROTTLE_CODES[injected.status] ?? [
        'InjectedFault',
        'injected by the stand-in',
      ];
      return fault(
        injected.status,
        code,
        message,
        injected.retryAfterSeconds !== undefined ? { 'retry-after': String(injected.retryAfterSeconds) } : {},
      );
    }
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion) return fault(400, 'BadParameter', 'The api-version query parameter is required.');
    if (!API_VERSION.test(apiVersion))
      return fault(400, 'BadParameter', `The specified version (${apiVersion}) is not recognized.`);
    if (kind !== 'secrets' || parts.length > 3) {
      return fault(400, 'BadParameter', 'Only /secrets is served by this stand-in.');
    }
    const now = Math.floor(Date.now() / 1000);

    if (!name) {
      if (req.method !== 'GET') return fault(405, 'MethodNotAllowed', `HTTP ${req.method} not allowed`);
      // Each secret's newest version, its id without the version, by name without case.
      const latest = [...vault.secrets.entries()].flatMap(([n, vs]) => {
        const v = vs.at(-1);
        return v ? [{ key: n.toUpperCase(), item: bundle(base, n, v, false, n) }] : [];
      });
      const p = page(url, base, latest);
      if ('bad' in p) return fault(400, 'BadParameter', p.bad);
      return reply(200, { value: p.items, nextLink: p.nextLink });
    }
    if (!SECRET_NAME.test(name)) {
      return fault(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    }
    const versions = vault.secrets.get(name) ?? [];

    type Attributes = { enabled?: unknown; nbf?: unknown; exp?: unknown };
    const times = (a: Attributes | undefined) => ({
      ...(typeof a?.nbf === 'number' ? { nbf: a.nbf } : {}),
      ...(typeof a?.exp === 'number' ? { exp: a.exp } : {}),
    });
    const isTags = (t: unknown): t is Record<string, string> =>
      typeof t === 'object' && t !== null && !Array.isArray(t);

    if (req.method === 'PUT' && third === undefined) {
      const b = raw as
        | { value?: unknown; tags?: unknown; contentType?: unknown; attributes?: Attributes }
        | undefined;
      if (!b || typeof b.value !== 'string')
        return fault(400, 'BadParameter', 'Property value is required and must be a string.');
      const v: Version = {
        version: randomBytes(16).toString('hex'),
        value: b.value,
        ...(isTags(b.tags) ? { tags: b.tags } : {}),
        ...(typeof b.contentType === 'string' ? { contentType: b.contentType } : {}),
        enabled: typeof b.attributes?.enabled === 'boolean' ? b.attributes.enabled : true,
        ...times(b.attributes),
        created: now,
        updated: now,
      };
      vault.secrets.set(name, [...versions, v]);
      return reply(200, bundle(base, name, v, true));
    }
    if (req.method === 'GET' && third === 'versions') {
      // In version-id order, not the order of writing (Azure/azure-sdk-for-js
      // sdk/keyvault/keyvault-secrets/recordings/node/secret_client__list_secrets_in_various_ways/
      // recording_can_retrieve_all_versions_of_a_secret.js: three versions written 14 s apart);
      // a secret that does not exist lists empty (recording_can_list_secret_versions_non_existing.json).
      const p = page(
        url,
        base,
        versions.map((v) => ({ key: v.version.toUpperCase(), item: bundle(base, name, v, false) })),
      );
      if ('bad' in p) return fault(400, 'BadParameter', p.bad);
      return reply(200, { value: p.items, nextLink: p.nextLink });
    }
    const v = third ? versions.find((x) => x.version === third) : versions.at(-1);
    if (req.method !== 'GET' && req.method !== 'PATCH')
      return fault(405, 'MethodNotAllowed', `HTTP ${req.method} not allowed`);
    if (!v) return notFound(third ? `${name}/${third}` : name);
    if (req.method === 'GET') {
      if (!v.enabled)
        return fault(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', undefined, {
          code: 'SecretDisabled',
        });
      return reply(200, bundle(base, name, v, true));
    }
    // PATCH: allowed on a disabled version too; the answer has no value.
    const b = (raw ?? {}) as { tags?: unknown; contentType?: unknown; attributes?: Attributes };
    if (typeof b.attributes?.enabled === 'boolean') v.enabled = b.attributes.enabled;
    Object.assign(v, times(b.attributes));
    if (isTags(b.tags)) v.tags = b.tags;
    if (typeof b.contentType === 'string') v.contentType = b.contentType;
    v.updated = now;
    return reply(200, bundle(base, name, v, false));
  };

  const addresses = listen ?? Object.values(VAULT_ADDRESSES).map((a) => `${a}:${port}`);
  let listening = 0;
  for (const at of addresses) {
    const [address = '', listenPort = ''] = at.split(':');
    const server = createServer({ key, cert }, (req, res) => {
      handler(req, res).catch((err) => {
        if (!res.headersSent) error(res, 500, 'InternalServerError', String(err));
      });
    });
    server.on('error', (err) => {
      console.error(`Key Vault stand-in: cannot listen on ${at}: ${err.message}`);
      process.exit(1);
    });
    server.listen(Number(listenPort), address, () => {
      if (++listening === addresses.length)
        console.log(`Key Vault stand-in (pid ${process.pid}) on ${addresses.join(', ')}`);
    });
  }
}

function health(address: string, port: number, ca: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = httpsGet({ host: address, port, path: '/_standin/health', ca, timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve((JSON.parse(Buffer.concat(chunks).toString()) as { pid: number }).pid);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/**
 * Starts the stand-in as a detached process (it outlives the caller; pid in <root>/keyvault/pid)
 * and waits until every vault answers over TLS signed by the returned CA. Fails when another
 * server already holds the port (it would not know this start's token).
 */
export async function startKeyVault(root: string, port = KV_PORT) {
  const dir = join(root, 'keyvault');
  const { ca } = certificates(dir);
  const accessToken = randomBytes(24).toString('base64url');
  writeFileSync(join(dir, 'access-token'), accessToken, { mode: 0o600 });
  const pid = startDetached(
    process.execPath,
    [__filename, 'serve', '--root', root, '--port', String(port)],
    join(dir, 'server.log'),
    join(dir, 'pid'),
  );
  const caPem = readFileSync(ca, 'utf8');
  await Promise.all(
    Object.values(VAULT_ADDRESSES).map(async (a) => {
      await waitForPort(a, port, 'Key Vault stand-in');
      const deadline = Date.now() + 10_000;
      let answered = await health(a, port, caPem);
      while (answered !== pid && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        answered = await health(a, port, caPem);
      }
      if (answered !== pid) {
        throw new Error(
          `Key Vault stand-in: ${a}:${port} is served by ${answered === null ? 'something else (not a stand-in with this CA)' : `another stand-in (pid ${answered})`}, not the one just started (pid ${pid}); stop it first; see ${join(dir, 'server.log')}`,
        );
      }
    }),
  );
  const vaults = Object.fromEntries(
    Object.entries(VAULT_ADDRESSES).map(([env, a]) => [env, `https://${a}:${port}`]),
  ) as Record<keyof typeof VAULT_ADDRESSES, string>;
  return { vaults, url: vaults.test, caCertPath: ca, accessToken };
}

export async function stopKeyVault(root: string): Promise<void> {
  stopByPidFile(join(root, 'keyvault', 'pid'));
}

if (require.main === module) {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      root: { type: 'string' },
      port: { type: 'string' },
      listen: { type: 'string' },
      throttle: { type: 'string' },
    },
  });
  if (positionals[0] !== 'serve' || !values.root) {
    console.error(
      'usage: keyvault-standin.js serve --root R [--port P] [--listen ADDR:PORT,...] [--throttle W,R,MS]',
    );
    process.exit(2);
  }
  const [writes = 0, reads = 0, windowMs = 0] = (values.throttle ?? '').split(',').map(Number);
  serve(
    values.root,
    Number(values.port ?? KV_PORT),
    values.listen?.split(','),
    values.throttle ? { writes, reads, windowMs } : undefined,
  );
}
