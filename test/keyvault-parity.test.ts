// The Key Vault stand-in (test/infra/keyvault-standin.ts) against what the real service answered in
// the sessions the Azure SDK for JS recorded: raw HTTPS requests to a stand-in of this file's own
// (a free port on 127.0.0.1, a root under a fresh temp dir), every expected value written out by
// hand. Where each fact was observed (paths under Azure/azure-sdk-for-js
// sdk/keyvault/keyvault-secrets/recordings/node/ = SDK, and Azure/azure-sdk-assets
// js/sdk/keyvault/keyvault-secrets/recordings/node/ = ASSETS):
// - challenge 401, headers, PUT/GET/list bodies: ASSETS listoperations/recording_list_secret_versions.json;
// - versions in version-id order: SDK secret_client__list_secrets_in_various_ways/
//   recording_can_retrieve_all_versions_of_a_secret.js (written 14 s apart) and ..._by_page.json;
// - nextLink shape: SDK ..._by_page.json and ASSETS listoperations/recording_list_secrets_by_page.json;
// - versions of a missing secret: SDK recording_can_list_secret_versions_non_existing.json;
// - 404: ASSETS secret_client__create_read_update_and_delete_operations/
//   recording_can_get_a_secret_non_existing.json; 403: .../recording_cant_get_a_disabled_secret.json;
// - PATCH: SDK recording_can_update_a_disabled_secret.json, ASSETS helloworld/
//   recording_update_secret_properties.json; contentType: ASSETS
//   secret_client__outcontenttype_and_previousversion_20250701_api_features/;
// - 405: ASSETS .../recording_cannot_create_a_secret_with_an_empty_name.json;
// - 429 body: not recorded by the SDK; as printed in vcsjones/AzureSignTool issue #219.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SecretClient } from '@azure/keyvault-secrets';
import { standinTls } from './infra/keyvault-standin';

const API = '2025-07-01'; // what @azure/keyvault-secrets 4.11 sends
const VERSION_ID = /^[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NOT_FOUND_TAIL =
  ' was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

interface Attributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  recoveryLevel: string;
  recoverableDays: number;
}
interface Bundle {
  value?: string;
  contentType?: string;
  id: string;
  attributes: Attributes;
  tags?: Record<string, string>;
}
interface List {
  value: Bundle[];
  nextLink: string | null;
}
interface Failure {
  error: { code: string; message: string; innererror?: { code: string } };
}
interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });

/** One stand-in process of this file's own. */
class StandIn {
  private child?: ChildProcess;
  port = 0;
  token = '';
  ca = '';
  constructor(
    readonly root: string,
    private readonly args: string[] = [],
  ) {}

  get base(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const tls = standinTls(this.root); // makes the CA and certificate under <root>/keyvault
    this.ca = readFileSync(tls.ca, 'utf8');
    this.token = `parity-${process.pid}-${Date.now()}`;
    writeFileSync(join(this.root, 'keyvault', 'access-token'), this.token, { mode: 0o600 });
    this.port = await freePort();
    const log = openSync(join(this.root, 'keyvault', 'server.log'), 'a');
    this.child = spawn(
      process.execPath,
      [
        join(__dirname, 'infra', 'keyvault-standin.js'),
        'serve',
        '--root',
        this.root,
        '--listen',
        `127.0.0.1:${this.port}`,
        ...this.args,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const pid = await this.call('GET', '/_standin/health', { token: null })
        .then((a) => (JSON.parse(a.text) as { pid: number }).pid)
        .catch(() => null);
      if (pid === this.child.pid) return;
      if (Date.now() > deadline || this.child.exitCode !== null)
        throw new Error(`stand-in did not start; see ${join(this.root, 'keyvault', 'server.log')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  }

  /** A raw request: `token` null sends no Authorization; `path` may be a full URL (a nextLink). */
  call(
    method: string,
    path: string,
    o: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const url = new URL(path, this.base);
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const token = o.token === undefined ? this.token : o.token;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method,
          path: `${url.pathname}${url.search}`,
          ca: this.ca,
          headers: {
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
            ...o.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

const json = <T>(a: Answer): T => JSON.parse(a.text) as T;
let n = 0;
const unique = (what = 'parity') => `${what}-${process.pid}-${Date.now()}-${n++}`;
const versionOf = (id: string) => id.split('/').at(-1) ?? '';
const sortedIds = (ids: string[]) => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('Key Vault stand-in parity with recorded Key Vault sessions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-kv-parity-'));
  const kv = new StandIn(join(dir, 'root'));
  const put = (name: string, body: Record<string, unknown>) =>
    kv.call('PUT', `/secrets/${name}?api-version=${API}`, { body });
  const putValue = async (name: string, value: string, extra: Record<string, unknown> = {}) => {
    const a = await put(name, { value, attributes: {}, ...extra });
    assert.equal(a.status, 200, a.text);
    return json<Bundle>(a);
  };

  before(async () => {
    await kv.start();
  });
  after(async () => {
    await kv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('401 challenge: no token -> Unauthorized AKV10000 and a WWW-Authenticate Bearer challenge', async () => {
    const a = await kv.call('PUT', `/secrets/${unique()}?api-version=${API}`, { token: null, body: {} });
    assert.equal(a.status, 401);
    assert.match(
      String(a.headers['www-authenticate']),
      /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]{36}", resource="https:\/\/vault\.azure\.net"$/,
    );
    assert.deepEqual(json(a), {
      error: {
        code: 'Unauthorized',
        message: 'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.',
      },
    });
    assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(a.headers['x-ms-keyvault-service-version'], '1.9.3070.2');
  });

  it('a token the vault does not accept is a 401 with the challenge too', async () => {
    const a = await kv.call('GET', `/secrets/${unique()}/?api-version=${API}`, { token: 'not-the-token' });
    assert.equal(a.status, 401);
    assert.match(String(a.headers['www-authenticate']), /^Bearer authorization="https:\/\/login\./);
    assert.equal(json<Failure>(a).error.code, 'Unauthorized');
  });

  it('every answer carries the service headers; x-ms-client-request-id is echoed', async () => {
    const a = await kv.call('PUT', `/secrets/${unique()}?api-version=${API}`, {
      body: { value: 'v', attributes: {} },
      headers: { 'x-ms-client-request-id': 'c0ffee00-0000-4000-8000-000000000001' },
    });
    assert.equal(a.status, 200);
    const h = a.headers;
    assert.equal(h['content-type'], 'application/json; charset=utf-8');
    assert.equal(h['content-length'], String(Buffer.byteLength(a.text)));
    assert.equal(h['cache-control'], 'no-cache');
    assert.equal(h.pragma, 'no-cache');
    assert.equal(h.expires, '-1');
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['strict-transport-security'], 'max-age=31536000;includeSubDomains');
    assert.match(String(h['x-ms-request-id']), UUID);
    assert.equal(h['x-ms-client-request-id'], 'c0ffee00-0000-4000-8000-000000000001');
    assert.match(String(h['x-ms-keyvault-service-version']), /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(
      String(h['x-ms-keyvault-network-info']),
      /^conn_type=Ipv4;addr=[^;]*;act_addr_fam=InterNetwork;$/,
    );
    assert.ok(h['x-ms-keyvault-region'], 'x-ms-keyvault-region');
  });

  it('PUT /secrets/{name}: value, id with a 32-hex version, attributes; no tags or contentType unless set', async () => {
    const name = unique();
    const a = await put(name, { value: 'SECRET_VALUE', attributes: {} });
    assert.equal(a.status, 200);
    const b = json<Bundle>(a);
    assert.deepEqual(Object.keys(b), ['value', 'id', 'attributes']);
    assert.equal(b.value, 'SECRET_VALUE');
    assert.match(b.id, new RegExp(`^${kv.base}/secrets/${name}/[0-9a-f]{32}$`));
    assert.deepEqual(Object.keys(b.attributes), [
      'enabled',
      'created',
      'updated',
      'recoveryLevel',
      'recoverableDays',
    ]);
    assert.equal(b.attributes.enabled, true);
    assert.ok(Number.isInteger(b.attributes.created), 'created in whole seconds');
    assert.ok(Math.abs(b.attributes.created - Date.now() / 1000) < 60, 'created is epoch seconds');
    assert.equal(b.attributes.updated, b.attributes.created);
    assert.equal(b.attributes.recoveryLevel, 'Recoverable+Purgeable');
    assert.equal(b.attributes.recoverableDays, 90);

    const c = await putValue(unique(), 'x', {
      contentType: 'application/x-roundtrip-initial',
      tags: { a: '1' },
    });
    assert.equal(c.contentType, 'application/x-roundtrip-initial');
    assert.deepEqual(c.tags, { a: '1' });
    const d = await putValue(unique(), 'x', { attributes: { enabled: false, exp: 32503680000 } });
    assert.equal(d.attributes.enabled, false);
    assert.equal(d.attributes.exp, 32503680000);
    assert.deepEqual(Object.keys(d.attributes).slice(0, 2), ['enabled', 'exp']);
  });

  it('GET /secrets/{name}/ is the newest version; GET /secrets/{name}/{version} that version', async () => {
    const name = unique();
    const first = await putValue(name, 'one');
    const second = await putValue(name, 'two');
    const latest = await kv.call('GET', `/secrets/${name}/?api-version=${API}`);
    assert.equal(latest.status, 200);
    assert.equal(json<Bundle>(latest).id, second.id);
    assert.equal(json<Bundle>(latest).value, 'two');
    const old = await kv.call('GET', `/secrets/${name}/${versionOf(first.id)}?api-version=${API}`);
    assert.equal(old.status, 200);
    assert.deepEqual(json<Bundle>(old), first);
  });

  it('GET /secrets/{name}/versions: every version in version-id order, no value in the items', async () => {
    const name = unique();
    const written: Bundle[] = [];
    for (const v of ['SECRET_VALUE0', 'SECRET_VALUE1', 'SECRET_VALUE2', 'SECRET_VALUE3', 'SECRET_VALUE4'])
      written.push(await putValue(name, v));
    const a = await kv.call('GET', `/secrets/${name}/versions?api-version=${API}`);
    assert.equal(a.status, 200);
    const list = json<List>(a);
    assert.deepEqual(Object.keys(list), ['value', 'nextLink']);
    assert.equal(list.nextLink, null);
    const ids = list.value.map((x) => versionOf(x.id));
    assert.deepEqual(ids, sortedIds(written.map((w) => versionOf(w.id))), 'sorted by version id');
    for (const item of list.value) {
      assert.deepEqual(Object.keys(item), ['id', 'attributes'], 'no value, no tags when none set');
      assert.match(versionOf(item.id), VERSION_ID);
      assert.equal(item.id, `${kv.base}/secrets/${name}/${versionOf(item.id)}`);
      const w = written.find((x) => x.id === item.id);
      assert.deepEqual(item.attributes, w?.attributes);
    }
  });

  it('list items carry contentType and tags when set', async () => {
    const name = unique();
    await putValue(name, 'x', { contentType: 'text/plain', tags: { purpose: 'parity' } });
    const list = json<List>(await kv.call('GET', `/secrets/${name}/versions?api-version=${API}`));
    const [item] = list.value;
    assert.deepEqual(Object.keys(item ?? {}), ['contentType', 'id', 'attributes', 'tags']);
    assert.equal(item?.contentType, 'text/plain');
    assert.deepEqual(item?.tags, { purpose: 'parity' });
  });

  it('versions of a secret that does not exist: 200 and an empty list, not 404', async () => {
    const a = await kv.call('GET', `/secrets/${unique('missing')}/versions?api-version=${API}`);
    assert.equal(a.status, 200);
    assert.deepEqual(json(a), { value: [], nextLink: null });
  });

  it('paging: nextLink is api-version, an opaque $skiptoken, then the maxresults the client gave', async () => {
    const name = unique();
    const written: string[] = [];
    for (let i = 0; i < 3; i++) written.push(versionOf((await putValue(name, `v${i}`)).id));
    const seen: string[] = [];
    let link: string | null = `/secrets/${name}/versions?api-version=${API}&maxresults=1`;
    let pages = 0;
    while (link) {
      const page: List = json<List>(await kv.call('GET', link));
      pages++;
      assert.equal(page.value.length, 1);
      seen.push(...page.value.map((x) => versionOf(x.id)));
      if (page.nextLink !== null) {
        const esc = kv.base.replace(/\./g, '\\.');
        assert.match(
          page.nextLink,
          new RegExp(
            `^${esc}/secrets/${name}/versions\\?api-version=${API}&\\$skiptoken=[A-Za-z0-9_-]+&maxresults=1$`,
          ),
        );
      }
      link = page.nextLink;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, sortedIds(written));
  });

  it('paging without maxresults: 25 to a page, and the nextLink has no maxresults', async () => {
    const name = unique();
    const written: string[] = [];
    for (let i = 0; i < 27; i++) written.push(versionOf((await putValue(name, `v${i}`)).id));
    const first = json<List>(await kv.call('GET', `/secrets/${name}/versions?api-version=${API}`));
    assert.equal(first.value.length, 25);
    assert.ok(first.nextLink, 'a nextLink');
    assert.match(first.nextLink, /\?api-version=2025-07-01&\$skiptoken=[A-Za-z0-9_-]+$/);
    const second = json<List>(await kv.call('GET', first.nextLink));
    assert.equal(second.value.length, 2);
    assert.equal(second.nextLink, null);
    assert.deepEqual(
      [...first.value, ...second.value].map((x) => versionOf(x.id)),
      sortedIds(written),
    );
  });

  it('paging: a version written between pages repeats nothing and skips nothing listed before', async () => {
    for (let round = 0; round < 5; round++) {
      const name = unique();
      const before: string[] = [];
      for (let i = 0; i < 4; i++) before.push(versionOf((await putValue(name, `v${i}`)).id));
      const p1 = json<List>(
        await kv.call('GET', `/secrets/${name}/versions?api-version=${API}&maxresults=2`),
      );
      const added = versionOf((await putValue(name, 'between pages')).id);
      const all = p1.value.map((x) => versionOf(x.id));
      let link: string | null = p1.nextLink;
      while (link) {
        const page: List = json<List>(await kv.call('GET', link));
        all.push(...page.value.map((x) => versionOf(x.id)));
        link = page.nextLink;
      }
      assert.equal(new Set(all).size, all.length, 'no version listed twice');
      for (const v of before) assert.ok(all.includes(v), 'every earlier version listed');
      assert.deepEqual(
        all.filter((v) => v !== added),
        sortedIds(before),
      );
    }
  });

  it('PATCH /secrets/{name}/{version}: properties without value; tags replaced; exp kept', async () => {
    const name = unique();
    const s = await putValue(name, 'x', { tags: { a: '1' } });
    const a = await kv.call('PATCH', `/secrets/${name}/${versionOf(s.id)}?api-version=${API}`, {
      body: { tags: { a: '2' }, attributes: { exp: 32503680000 } },
    });
    assert.equal(a.status, 200);
    const b = json<Bundle>(a);
    assert.equal(b.value, undefined, 'no value in a PATCH answer');
    assert.equal(b.id, s.id);
    assert.deepEqual(b.tags, { a: '2' });
    assert.equal(b.attributes.exp, 32503680000);
    assert.equal(b.attributes.created, s.attributes.created);
    assert.equal(b.attributes.enabled, true);
    const listed = json<List>(await kv.call('GET', `/secrets/${name}/versions?api-version=${API}`)).value[0];
    assert.equal(listed?.attributes.exp, 32503680000);
    assert.deepEqual(listed?.tags, { a: '2' });
  });

  it('403 on a disabled version: Forbidden with innererror SecretDisabled; PATCH still allowed', async () => {
    const name = unique();
    const s = await putValue(name, 'x');
    const off = await kv.call('PATCH', `/secrets/${name}/${versionOf(s.id)}?api-version=${API}`, {
      body: { attributes: { enabled: false } },
    });
    assert.equal(off.status, 200);
    assert.equal(json<Bundle>(off).attributes.enabled, false);
    const expected = {
      error: {
        code: 'Forbidden',
        message: 'Operation get is not allowed on a disabled secret.',
        innererror: { code: 'SecretDisabled' },
      },
    };
    const latest = await kv.call('GET', `/secrets/${name}/?api-version=${API}`);
    assert.equal(latest.status, 403);
    assert.deepEqual(json(latest), expected);
    const exact = await kv.call('GET', `/secrets/${name}/${versionOf(s.id)}?api-version=${API}`);
    assert.equal(exact.status, 403);
    assert.deepEqual(json(exact), expected);
    const again = await kv.call('PATCH', `/secrets/${name}/?api-version=${API}`, {
      body: { attributes: { exp: 32503680000 } },
    });
    assert.equal(again.status, 200, 'a disabled version can be updated');
    const listed = json<List>(await kv.call('GET', `/secrets/${name}/versions?api-version=${API}`));
    assert.equal(listed.value[0]?.attributes.enabled, false, 'listed, disabled');
  });

  it('404 SecretNotFound with the service message (name, or name/version)', async () => {
    const name = unique('missing');
    const a = await kv.call('GET', `/secrets/${name}/?api-version=${API}`);
    assert.equal(a.status, 404);
    assert.deepEqual(json(a), {
      error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name}${NOT_FOUND_TAIL}` },
    });
    const s = await putValue(unique(), 'x');
    const secret = s.id.split('/').at(-2) ?? '';
    const wrong = '0123456789abcdef0123456789abcdef';
    const b = await kv.call('GET', `/secrets/${secret}/${wrong}?api-version=${API}`);
    assert.equal(b.status, 404);
    assert.deepEqual(json(b), {
      error: {
        code: 'SecretNotFound',
        message: `A secret with (name/id) ${secret}/${wrong}${NOT_FOUND_TAIL}`,
      },
    });
    const p = await kv.call('PATCH', `/secrets/${name}/${wrong}?api-version=${API}`, { body: { tags: {} } });
    assert.equal(p.status, 404);
    assert.equal(json<Failure>(p).error.code, 'SecretNotFound');
  });

  it('405 for a PUT without a name: MethodNotAllowed "HTTP PUT not allowed"', async () => {
    const a = await kv.call('PUT', `/secrets/?api-version=${API}`, { body: { value: 'x', attributes: {} } });
    assert.equal(a.status, 405);
    assert.deepEqual(json(a), { error: { code: 'MethodNotAllowed', message: 'HTTP PUT not allowed' } });
  });

  it('GET /secrets: newest version of each, id without version, by name ignoring case', async () => {
    const stem = `ls${process.pid}${Date.now()}`;
    const names = [`${stem}-b`, `${stem}-A`, `${stem}-C`];
    for (const nm of names) await putValue(nm, 'x');
    const newest = await putValue(`${stem}-b`, 'y', { contentType: 'text/plain' });
    const items: Bundle[] = [];
    let link: string | null = `/secrets?api-version=${API}&maxresults=2`;
    while (link) {
      const page: List = json<List>(await kv.call('GET', link));
      items.push(...page.value);
      link = page.nextLink;
    }
    const mine = items.filter((x) => x.id.includes(`/secrets/${stem}-`));
    assert.deepEqual(
      mine.map((x) => x.id),
      [`${stem}-A`, `${stem}-b`, `${stem}-C`].map((nm) => `${kv.base}/secrets/${nm}`),
    );
    const b = mine[1];
    assert.equal(b?.value, undefined);
    assert.equal(b?.contentType, 'text/plain');
    assert.deepEqual(b?.attributes, newest.attributes);
    const all = items.map((x) => (x.id.split('/').at(-1) ?? '').toUpperCase());
    assert.deepEqual(all, sortedIds(all), 'the whole list is by upper-cased name');
  });

  it('the real SecretClient reads these answers (challenge, paging by nextLink, errors)', async () => {
    const client = new SecretClient(
      kv.base,
      { getToken: async () => ({ token: kv.token, expiresOnTimestamp: Date.now() + 3600_000 }) },
      {
        disableChallengeResourceVerification: true,
        tlsOptions: { ca: kv.ca },
        retryOptions: { maxRetries: 0 },
      },
    );
    const name = unique('sdk');
    const written: string[] = [];
    for (let i = 0; i < 27; i++)
      written.push((await client.setSecret(name, `v${i}`)).properties.version ?? '');
    const listed: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions(name)) listed.push(p.version ?? '');
    assert.deepEqual(listed, sortedIds(written), 'two pages, followed by their nextLink');
    const s = await client.setSecret(name, 'tagged', { tags: { a: '1' }, contentType: 'text/plain' });
    const got = await client.getSecret(name);
    assert.equal(got.properties.version, s.properties.version);
    assert.deepEqual(got.properties.tags, { a: '1' });
    assert.equal(got.properties.contentType, 'text/plain');
    const off = await client.updateSecretProperties(name, s.properties.version ?? '', { enabled: false });
    assert.equal(off.enabled, false);
    await assert.rejects(client.getSecret(name), (err: { statusCode?: number; code?: string }) => {
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, 'Forbidden');
      return true;
    });
    await assert.rejects(
      client.getSecret(unique('missing')),
      (err: { statusCode?: number; code?: string }) => {
        assert.equal(err.statusCode, 404);
        assert.equal(err.code, 'SecretNotFound');
        return true;
      },
    );
    const none: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions(unique('missing')))
      none.push(p.version ?? '');
    assert.deepEqual(none, []);
  });

  it('429 (an injected fault): Throttled, the service message, Retry-After in seconds', async () => {
    const name = unique();
    const hook = await kv.call('POST', '/_standin/faults', {
      token: null,
      body: { status: 429, count: 1, retryAfterSeconds: 3, secret: name },
    });
    assert.equal(hook.status, 200);
    const a = await kv.call('PUT', `/secrets/${name}?api-version=${API}`, { body: { value: 'x' } });
    assert.equal(a.status, 429);
    assert.equal(a.headers['retry-after'], '3');
    assert.deepEqual(json(a), {
      error: {
        code: 'Throttled',
        message:
          'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      },
    });
    assert.equal(
      (await kv.call('PUT', `/secrets/${name}?api-version=${API}`, { body: { value: 'x' } })).status,
      200,
    );
  });
});

describe('Key Vault stand-in parity: service limits (--throttle)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-kv-parity-throttle-'));
  const kv = new StandIn(join(dir, 'root'), ['--throttle', '1,100,60000']);
  before(async () => {
    await kv.start();
  });
  after(async () => {
    await kv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('past the write limit: 429 Throttled with the service message and a Retry-After in whole seconds', async () => {
    const name = unique();
    const ok = await kv.call('PUT', `/secrets/${name}?api-version=${API}`, { body: { value: 'x' } });
    assert.equal(ok.status, 200);
    const a = await kv.call('PUT', `/secrets/${name}?api-version=${API}`, { body: { value: 'y' } });
    assert.equal(a.status, 429);
    assert.match(String(a.headers['retry-after']), /^[1-9]\d*$/);
    assert.ok(Number(a.headers['retry-after']) <= 60);
    assert.deepEqual(json(a), {
      error: {
        code: 'Throttled',
        message:
          'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      },
    });
    assert.match(String(a.headers['x-ms-request-id']), UUID);
    const read = await kv.call('GET', `/secrets/${name}/?api-version=${API}`);
    assert.equal(read.status, 200, 'reads have their own limit');
    // So does every other transaction: an update of a version's attributes is not a CREATE.
    const version = String((json(ok) as { id: string }).id)
      .split('/')
      .at(-1);
    const update = await kv.call('PATCH', `/secrets/${name}/${version}?api-version=${API}`, {
      body: { attributes: { enabled: false } },
    });
    assert.equal(update.status, 200, 'an update counts with the other transactions');
  });
});
