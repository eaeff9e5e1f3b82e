// The payload codec: AES-256-GCM with the key id in each payload. Unit checks of the codec and
// its keys, then the real dev server: a worker and clients sealing payloads, the raw history
// holding only ciphertext, `rekey status` opening it with the config and failing clearly without,
// and the codec server answering the Web UI's /decode and /encode with CORS and a bearer token.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import { codecServer, toJson } from '../client/codec-server';
import { startRotation } from '../client/runs';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { AesGcmCodec, ENCODING } from '../worker/codec';
import { codecOf } from '../worker/codec-keys';
import { rekeyAsync, type TemporalFixture, temporalFixture } from './helpers';
import { testEnv } from './infra/env';
import { buildTopology, seed, stopServices, type Topology } from './infra/topology';

const key = () => new Uint8Array(randomBytes(32));
const payload = (text: string): Payload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: new TextEncoder().encode(text),
});
const text = (p: Payload) => new TextDecoder().decode(p.data ?? new Uint8Array());
const encodingOf = (p: Payload) => new TextDecoder().decode(p.metadata?.encoding ?? new Uint8Array());

describe('payload codec', () => {
  it('seals with the active key, names it, and opens what older keys sealed', async () => {
    const k1 = key();
    const old = new AesGcmCodec(new Map([['k1', k1]]), 'k1');
    const [sealed] = await old.encode([payload('{"environments":["prod"]}')]);
    assert.ok(sealed);
    assert.equal(encodingOf(sealed), ENCODING);
    assert.equal(new TextDecoder().decode(sealed.metadata?.['encryption-key-id']), 'k1');
    assert.ok(!Buffer.from(sealed.data ?? []).includes('prod'), 'no plaintext in the sealed payload');

    // The codec key rotated: k2 seals, k1 still opens.
    const rotated = new AesGcmCodec(
      new Map([
        ['k1', k1],
        ['k2', key()],
      ]),
      'k2',
    );
    const [opened] = await rotated.decode([sealed]);
    assert.equal(text(opened as Payload), '{"environments":["prod"]}');
    const [resealed] = await rotated.encode([opened as Payload]);
    assert.equal(new TextDecoder().decode(resealed?.metadata?.['encryption-key-id']), 'k2');
    // Payloads that were never sealed pass through.
    assert.deepEqual(await rotated.decode([payload('7')]), [payload('7')]);
  });

  it('a wrong or missing key fails with a clear error that names the key, not its material', async () => {
    const k1 = key();
    const [sealed] = await new AesGcmCodec(new Map([['k1', k1]]), 'k1').encode([payload('"x"')]);
    const wrong = new AesGcmCodec(new Map([['k1', key()]]), 'k1');
    await assert.rejects(
      wrong.decode([sealed as Payload]),
      /sealed with codec key "k1" does not open .*wrong key material/,
    );
    const other = new AesGcmCodec(new Map([['k9', key()]]), 'k9');
    await assert.rejects(
      other.decode([sealed as Payload]),
      /codec key "k1", which this codec does not have \(codec.keys: k9\)/,
    );
    assert.throws(
      () => new AesGcmCodec(new Map([['k1', new Uint8Array(16)]]), 'k1'),
      /16 bytes, AES-256 needs 32/,
    );
  });

  it('reads its keys from files and the environment, and refuses a key that is not 32 bytes', () => {
    const cfg = (keys: Config['codec']) => ({ codec: keys }) as Config;
    process.env.REKEY_TEST_CODEC_KEY = Buffer.from(key()).toString('base64');
    assert.ok(codecOf(cfg({ active: 'a', keys: { a: { env: 'REKEY_TEST_CODEC_KEY' } } })));
    process.env.REKEY_TEST_CODEC_KEY = Buffer.from(randomBytes(16)).toString('base64');
    assert.throws(
      () => codecOf(cfg({ active: 'a', keys: { a: { env: 'REKEY_TEST_CODEC_KEY' } } })),
      /codec key "a" \(\$REKEY_TEST_CODEC_KEY\): not base64 of 32 bytes/,
    );
    assert.throws(
      () => codecOf(cfg({ active: 'a', keys: { a: { file: '/nonexistent/key' } } })),
      /cannot read file/,
    );
    delete process.env.REKEY_TEST_CODEC_KEY;
  });

  describe('on the dev server', () => {
    let fx: TemporalFixture;
    let t: Topology;
    let config: Config;
    let configFile: string;
    let plain: Client;
    let connection: Connection;
    let started: Payload[];
    const workflowId = 'rotate-jwt/prod';

    before(async () => {
      fx = await temporalFixture('codec');
      t = buildTopology('codec', 3220);
      await seed(t);
      const keyFile = join(t.dir, 'codec-k1.key');
      writeFileSync(keyFile, `${Buffer.from(key()).toString('base64')}\n`, { mode: 0o600 });
      const doc = parse(readFileSync(t.configFile, 'utf8'));
      doc.codec = { active: 'k1', keys: { k1: { file: keyFile } } };
      configFile = join(t.dir, 'rekey-codec.yaml');
      writeFileSync(configFile, stringify(doc));
      config = loadConfig(configFile);
      connection = await Connection.connect({ address: testEnv().temporal.address });
      plain = new Client({ connection, namespace: 'codec' });
      const sealing = new Client({
        connection,
        namespace: 'codec',
        dataConverter: { payloadCodecs: [codecOf(config) as AesGcmCodec] },
      });
      await fx.withWorker(config, async () => {
        const h = await startRotation(
          sealing,
          config,
          { environments: ['prod'], dryRun: true },
          { taskQueue: fx.taskQueue },
        );
        const result = await h.result();
        assert.equal(result.dryRun, true);
      });
      const { events } = await plain.workflow.getHandle(workflowId).fetchHistory();
      started = (events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? []) as Payload[];
    });
    after(async () => {
      await Promise.allSettled([t && stopServices(t), connection?.close(), fx?.close()]);
    });

    it('the raw history holds only sealed payloads', async () => {
      const { events } = await plain.workflow.getHandle(workflowId).fetchHistory();
      const payloads: Payload[] = [];
      // Every payload but the SDK's own plain ones: patch markers (a patch id) and search
      // attributes (indexed by the server, so never sealed).
      const collect = (v: unknown, path: string) => {
        if (!v || typeof v !== 'object' || /markerRecorded|searchAttributes/i.test(path)) return;
        if ('data' in v && 'metadata' in v && (v as Payload).metadata?.encoding) payloads.push(v as Payload);
        else for (const [k, x] of Object.entries(v)) collect(x, `${path}.${k}`);
      };
      collect(events, '');
      assert.ok(payloads.length >= 4, `${payloads.length} payloads`);
      for (const p of payloads) assert.equal(encodingOf(p), ENCODING);
      assert.equal(started.length, 1);
    });

    it('rekey status opens it with the config, and without the codec says what it cannot read', async () => {
      const env = {
        ...process.env,
        TEMPORAL_ADDRESS: testEnv().temporal.address,
        TEMPORAL_NAMESPACE: 'codec',
        REKEY_CONFIG: '',
      };
      // A query needs a worker, even on a closed run; not spawnSync: the worker runs in this process.
      const rekey = (...args: string[]) => rekeyAsync(args, { env, cwd: t.dir });
      await fx.withWorker(config, async () => {
        const opened = await rekey('status', workflowId, '--config', configFile);
        assert.equal(opened.code, 0, opened.stderr);
        assert.match(opened.stdout, /\[done {3}\] plan: prod: new key for group prod/);
        const sealed = await rekey('status', workflowId);
        assert.equal(sealed.code, 2);
        assert.match(sealed.stderr, /binary\/encrypted.*sealed with a codec; use the config that has it/);
      });
      const check = await rekey('config', 'check', '--config', configFile);
      assert.match(check.stdout, /codec: payloads sealed with key k1; opens k1/);
    });

    it('the codec server opens and seals payloads for the Web UI, with CORS and a bearer token', async () => {
      const server = codecServer(codecOf(config) as AesGcmCodec, {
        origins: ['http://127.0.0.1:18233'],
        token: 'ui-token',
      });
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const post = (path: string, body: unknown, auth = 'Bearer ui-token') =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-namespace': 'codec',
            origin: 'http://127.0.0.1:18233',
            authorization: auth,
          },
          body: JSON.stringify(body),
        });
      try {
        const preflight = await fetch(`${url}/decode`, {
          method: 'OPTIONS',
          headers: {
            origin: 'http://127.0.0.1:18233',
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type,x-namespace',
          },
        });
        assert.equal(preflight.status, 204);
        assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://127.0.0.1:18233');
        assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-namespace/);

        assert.equal((await post('/decode', { payloads: started.map(toJson) }, 'Bearer wrong')).status, 401);
        const decoded = (await (await post('/decode', { payloads: started.map(toJson) })).json()) as {
          payloads: { data: string }[];
        };
        assert.match(
          Buffer.from(decoded.payloads[0]?.data ?? '', 'base64').toString(),
          /"environments":\["prod"\]/,
        );

        const input = {
          metadata: { encoding: Buffer.from('json/plain').toString('base64') },
          data: Buffer.from('{"environments":["test"]}').toString('base64'),
        };
        const encoded = (await (await post('/encode', { payloads: [input] })).json()) as {
          payloads: (typeof input)[];
        };
        assert.equal(
          Buffer.from(encoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString(),
          ENCODING,
        );
        const back = (await (await post('/decode', encoded)).json()) as { payloads: (typeof input)[] };
        assert.deepEqual(back.payloads[0], input);
        assert.equal((await post('/decode', { nope: 1 })).status, 400);
        // Under a path of its own, as behind a proxy: the last segment names the operation.
        const nested = (await (await post('/codec/decode/', encoded)).json()) as {
          payloads: (typeof input)[];
        };
        assert.deepEqual(nested.payloads[0], input);
        assert.equal((await post('/codec/other', encoded)).status, 404);
      } finally {
        server.close();
      }
    });
  });
});
