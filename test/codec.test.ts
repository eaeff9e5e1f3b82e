// The payload codec: AES-256-GCM with the key id in each payload. Unit checks of the codec and
// its keys, then the real dev server: a worker and clients sealing payloads, the raw history
// holding only ciphertext, `rekey status` opening it with the config and failing clearly without,
// and the codec server answering the Web UI's /decode and /encode with CORS and a bearer token.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import { readCodecKeyring } from '../activities/codec-key';
import { codecServer, toJson } from '../client/codec-server';
import { startCodecKeyRotation } from '../client/runs/codec-key';
import { startRotation } from '../client/runs/rotate';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { createSecretStore } from '../stores/drivers';
import { AesGcmCodec, ENCODING } from '../temporal/codec';
import { dataConverterOf, loadCodec } from '../temporal/codec-keys';
import {
  assertNoSecrets,
  failureOf,
  historyText,
  rekeyAsync,
  type TemporalFixture,
  temporalFixture,
} from './helpers';
import { openUi, startFromUi, uiUrl } from './infra/browser';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { portOf } from './infra/ports';
import { buildTopology, seed, stopServices, type Topology } from './infra/topology';
import { until } from './infra/until';

const key = () => new Uint8Array(randomBytes(32));
const payload = (text: string): Payload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: new TextEncoder().encode(text),
});
const utf8 = (s: string) => new TextEncoder().encode(s);
// A payload decoded from protobuf without data (a void result) has the field's default, a plain array.
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('utf8');
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
      /codec key "k1", which this codec does not have \(codec keys: k9\)/,
    );
    assert.throws(
      () => new AesGcmCodec(new Map([['k1', new Uint8Array(16)]]), 'k1'),
      /16 bytes, AES-256 needs 32/,
    );
  });

  it('reads its keys from files and the environment, and refuses a key that is not 32 bytes', async () => {
    const cfg = (keys: Config['codec']) => ({ codec: keys }) as Config;
    process.env.REKEY_TEST_CODEC_KEY = Buffer.from(key()).toString('base64');
    assert.ok(await loadCodec(cfg({ active: 'a', keys: { a: { env: 'REKEY_TEST_CODEC_KEY' } } })));
    process.env.REKEY_TEST_CODEC_KEY = Buffer.from(randomBytes(16)).toString('base64');
    await assert.rejects(
      loadCodec(cfg({ active: 'a', keys: { a: { env: 'REKEY_TEST_CODEC_KEY' } } })),
      /codec key "a" \(\$REKEY_TEST_CODEC_KEY\): not base64 of 32 bytes/,
    );
    await assert.rejects(
      loadCodec(cfg({ active: 'a', keys: { a: { file: '/nonexistent/key' } } })),
      /cannot read file/,
    );
    delete process.env.REKEY_TEST_CODEC_KEY;
  });

  it('a codec on a keyring re-reads it when a payload names a key it does not have yet', async () => {
    const ring = new Map([['k1', key()]]);
    let reads = 0;
    const reader = new AesGcmCodec(new Map(ring), 'k1', async () => {
      reads++;
      return { keys: new Map(ring), active: 'k2' };
    });
    // Another process rotated the ring: k2 is active there.
    ring.set('k2', key());
    const [sealed] = await new AesGcmCodec(new Map(ring), 'k2').encode([payload('"after"')]);
    const [opened] = await reader.decode([sealed as Payload]);
    assert.equal(text(opened as Payload), '"after"');
    assert.equal(reads, 1);
    assert.deepEqual(reader.keyIds, ['k2', 'k1'], 'k2 is active now');
    // A junk key id does not turn every decode into a read of the store: at most one per 2 s.
    const junk = { ...sealed, metadata: { ...sealed?.metadata, 'encryption-key-id': utf8('nope') } };
    await new Promise((r) => setTimeout(r, 2100));
    await assert.rejects(reader.decode([junk]), /codec key "nope", which this codec does not have/);
    await assert.rejects(reader.decode([junk]), /codec key "nope"/);
    await assert.rejects(reader.decode([junk]), /codec key "nope"/);
    assert.equal(reads, 2);
    // A ring that lost a key (written by hand, say) does not take it from this codec.
    ring.delete('k1');
    await new Promise((r) => setTimeout(r, 2100));
    await assert.rejects(reader.decode([junk]));
    assert.equal(reads, 3);
    assert.deepEqual(reader.keyIds.sort(), ['k1', 'k2']);
  });

  describe('on the dev server', () => {
    let fx: TemporalFixture;
    let t: Topology;
    let config: Config;
    let configFile: string;
    let plain: Client;
    let connection: Connection;
    let started: Payload[];
    let sealing: Client;
    const workflowId = 'rotate-jwt/prod';

    before(async () => {
      fx = await temporalFixture('codec');
      t = buildTopology('codec', portOf('codec'));
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
      sealing = new Client({
        connection,
        namespace: 'codec',
        dataConverter: { payloadCodecs: [(await loadCodec(config)) as AesGcmCodec] },
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

    it('failures are sealed too: their messages and stack traces are not in the raw history', async () => {
      // An environment name only this run uses: it travels in the input (sealed) and comes back
      // in the failure's message (a service log line or command output would, the same way).
      const marker = `nowhere-${Date.now().toString(36)}`;
      const failed = await fx.withWorker(config, async () => {
        const h = await sealing.workflow.start('rotateJwtKeys', {
          taskQueue: fx.taskQueue,
          workflowId: `rotate-jwt/${marker}`,
          args: [{ environments: [marker] }],
        });
        return failureOf(h.result());
      });
      assert.match(failed.message, new RegExp(marker), 'a client with the codec reads the message');
      // Every failure in the raw history (an activity's, the run's, and their causes).
      const texts: string[] = [];
      const collect = (v: unknown, key: string) => {
        if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
        if (key === 'failure' || key === 'cause') {
          const f = v as { message?: string; stackTrace?: string };
          texts.push(`${f.message ?? ''}\n${f.stackTrace ?? ''}`);
        }
        for (const [k, x] of Object.entries(v)) collect(x, k);
      };
      collect((await plain.workflow.getHandle(`rotate-jwt/${marker}`).fetchHistory()).events, '');
      assert.ok(texts.length >= 2, `${texts.length} failures: the activity's and the run's`);
      for (const text of texts) {
        assert.doesNotMatch(text, new RegExp(marker), 'no failure text in the clear');
        assert.match(text, /^Encoded failure\n$/);
      }
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

    it('the Web UI pointed at the codec server starts a run with a sealed input and shows it opened', async () => {
      const origin = `http://127.0.0.1:${testEnv().temporal.uiPort}`;
      const server = codecServer((await loadCodec(config)) as AesGcmCodec, { origins: [origin] });
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ui = await openUi('codec');
      const id = 'rotate-jwt/prod-from-ui';
      try {
        await fx.withWorker(config, async () => {
          // The endpoint set in the UI's own Codec Server settings (kept in this browser).
          await ui.page.goto(`${uiUrl('codec')}/workflows`, { waitUntil: 'load' });
          await ui.page.getByTestId('data-encoder-status').click();
          await ui.page.locator('#data-encoder-endpoint-input').fill(endpoint);
          await ui.shot('codec-endpoint');
          await ui.page.getByTestId('confirm-data-encoder-button').click();
          await startFromUi(
            ui,
            'codec',
            {
              workflowId: id,
              taskQueue: fx.taskQueue,
              workflowType: 'rotateJwtKeys',
              input: { environments: ['prod'], dryRun: true },
            },
            (wid) => plain.workflow.getHandle(wid).describe(),
          );
          // The UI sealed the input through /encode: the worker opened it and ran the dry run.
          assert.equal((await sealing.workflow.getHandle(id).result()).dryRun, true);
          const { events } = await plain.workflow.getHandle(id).fetchHistory();
          const input = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
          assert.equal(input.length, 1);
          assert.equal(encodingOf(input[0] as Payload), ENCODING);
          assert.ok(!(await historyText(plain, id)).includes('"environments"'), 'no plaintext input');

          // The run's page shows the input and the current details opened through /decode.
          const { runId } = await plain.workflow.getHandle(id).describe();
          await ui.page.goto(`${uiUrl('codec')}/workflows/${encodeURIComponent(id)}/${runId}/history`, {
            waitUntil: 'load',
          });
          await until('the page to show the opened input', async () => {
            const text = await ui.text();
            return /"environments":\s*\[\s*"prod"\s*\]/.test(text) || undefined;
          });
          await ui.page.getByText('User Metadata', { exact: true }).click();
          await until(
            'the page to show the opened current details',
            async () => (await ui.text()).includes('plan a rotation') || undefined,
          );
          await ui.shot('opened');
        });
      } finally {
        await ui.close();
        server.close();
      }
    });

    it('the codec server opens and seals payloads for the Web UI, with CORS and a bearer token', async () => {
      const server = codecServer((await loadCodec(config)) as AesGcmCodec, {
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

    it('the codec server refuses callers it does not know: Host, Origin, namespace; the CLI wants a token', async () => {
      const server = codecServer((await loadCodec(config)) as AesGcmCodec, {
        origins: ['http://127.0.0.1:18233'],
        token: 'ui-token',
        namespaces: ['codec'],
      });
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
      const port = (server.address() as AddressInfo).port;
      // Raw requests: fetch will not send a Host header other than the URL's.
      const send = (headers: Record<string, string>) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port,
              path: '/decode',
              method: 'POST',
              headers: {
                host: `127.0.0.1:${port}`,
                'content-type': 'application/json',
                authorization: 'Bearer ui-token',
                'x-namespace': 'codec',
                ...headers,
              },
            },
            (res) => {
              let body = '';
              res.on('data', (d) => {
                body += d;
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify({ payloads: started.map(toJson) }));
        });
      try {
        assert.equal((await send({})).status, 200, 'the known caller is answered');
        // A page on attacker.example whose name now resolves to 127.0.0.1 (DNS rebinding).
        const rebound = await send({
          host: `attacker.example:${port}`,
          origin: `http://attacker.example:${port}`,
        });
        assert.equal(rebound.status, 421);
        assert.doesNotMatch(rebound.body, /environments/);
        const foreign = await send({ origin: 'http://evil.example' });
        assert.equal(foreign.status, 403);
        assert.match(foreign.body, /origin http:\/\/evil\.example is not allowed/);
        const namespace = await send({ 'x-namespace': 'other' });
        assert.equal(namespace.status, 403);
        assert.match(namespace.body, /namespace other is not served here/);
      } finally {
        server.close();
      }
      const noAuth = await rekeyAsync(['codec-server', '--port', '0', '--config', configFile]);
      assert.equal(noAuth.code, 2);
      assert.match(noAuth.stderr, /give --token-file F, or --insecure-no-auth/);
    });
  });

  describe('a keyring in Key Vault (the stand-in), rotated by a rekey workflow', () => {
    let fx: TemporalFixture;
    let t: Topology;
    const secret = `codec-ring-${randomBytes(4).toString('hex')}`;
    let env: NodeJS.ProcessEnv;
    const rekey = (...args: string[]) => rekeyAsync([...args, '--config', t.configFile], { env, cwd: t.dir });

    before(async () => {
      fx = await temporalFixture('codec');
      t = buildTopology('codec-keyring', portOf('codec-keyring'), { codec: { store: 'kv-prod', secret } });
      env = {
        ...process.env,
        TEMPORAL_ADDRESS: testEnv().temporal.address,
        TEMPORAL_NAMESPACE: 'codec',
        REKEY_TASK_QUEUE: fx.taskQueue,
        REKEY_CONFIG: '',
      };
    });
    after(async () => {
      await fx?.close();
    });

    it('init makes it once; rotate adds a key; old and new payloads open; a running worker picks the new key up', async () => {
      const before = await rekey('config', 'check');
      assert.equal(before.code, 2);
      assert.match(
        before.stderr,
        /secret codec-ring-\w+ not found: create the keyring with rekey codec-key init/,
      );

      const init = await rekey('codec-key', 'init');
      assert.equal(init.code, 0, init.stderr);
      const k1 = /created: key (c\d{8}-[0-9a-f]{6}) active/.exec(init.stdout)?.[1];
      assert.ok(k1, init.stdout);
      const again = await rekey('codec-key', 'init');
      assert.equal(again.code, 2);
      assert.match(again.stderr, /already exists \(1 version\(s\)\): rotate it with rekey codec-key rotate/);
      assert.match(
        (await rekey('codec-key', 'rotate', '--dry-run')).stdout,
        new RegExp(`holds ${k1} \\(active first\\)`),
      );

      const config = loadConfig(t.configFile);
      const workflowId = `rotate-codec-key/kv-prod/${secret}`;
      const keyIdOf = async (runId: string) => {
        const { events } = await fx.client.workflow.getHandle(workflowId, runId).fetchHistory();
        const input = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload;
        assert.equal(encodingOf(input), ENCODING);
        return new TextDecoder().decode(input.metadata?.['encryption-key-id']);
      };
      await fx.withWorker(config, async () => {
        // The worker read the ring at start: k1 only.
        const first = await rekey('codec-key', 'rotate', '--json');
        assert.equal(first.code, 0, first.stderr);
        const rotated = JSON.parse(first.stdout);
        assertMatchesSchema('codec-keyring', rotated);
        assert.ok(rotated.active !== k1 && rotated.keys.join() === [rotated.active, k1].join(), first.stdout);
        assert.equal(rotated.workflowId, workflowId);
        const k2 = rotated.active as string;
        const firstRun = (await fx.client.workflow.getHandle(workflowId).describe()).runId;
        assert.equal(await keyIdOf(firstRun), k1);

        // A client that reads the ring now seals with k2; the worker, still on k1, re-reads the
        // ring when it meets k2 and runs it.
        const client = new Client({
          connection: fx.client.connection,
          namespace: 'codec',
          ...(await dataConverterOf(config)),
        });
        const second = await startCodecKeyRotation(client, config, { taskQueue: fx.taskQueue });
        const facts = await second.result();
        assert.equal(await keyIdOf(second.firstExecutionRunId), k2);
        assert.equal(facts.keys.length, 3);
        assert.deepEqual(facts.keys.slice(1), [k2, k1]);

        // The first run, sealed under k1, still opens with the rotated ring.
        const status = await rekey('status', workflowId);
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /add key.*active/);

        // No key material in the runs' results, the raw history, or the CLI's output.
        const ring = await readCodecKeyring(
          createSecretStore('kv-prod', config.stores['kv-prod'] as never),
          secret,
        );
        const keys = [...ring.keys.values()].map((k) => Buffer.from(k).toString('base64'));
        // The history's payloads opened with the codec: what the run really recorded.
        const codec = (await loadCodec(config)) as AesGcmCodec;
        const opened: string[] = [];
        for (const runId of [firstRun, second.firstExecutionRunId]) {
          const { events } = await fx.client.workflow.getHandle(workflowId, runId).fetchHistory();
          const sealed: Payload[] = [];
          const collect = (v: unknown) => {
            if (!v || typeof v !== 'object') return;
            if ('data' in v && 'metadata' in v && encodingOf(v as Payload) === ENCODING)
              sealed.push(v as Payload);
            else for (const x of Object.values(v)) collect(x);
          };
          collect(events);
          assert.ok(sealed.length >= 3, `${sealed.length} sealed payloads`);
          opened.push(...(await codec.decode(sealed)).map(text));
        }
        assert.ok(
          opened.some((o) => o.includes(k2?.[1] ?? '-')),
          'the opened history names the new key id',
        );
        assertNoSecrets(JSON.stringify(facts) + opened.join('\n'), keys);
        assertNoSecrets(init.out + first.out + status.out, keys);

        // Every quarter from a schedule; triggered now, its run adds a fourth key.
        const created = await rekey('schedule', 'create', 'codec-key', '--every', 'quarter');
        assert.equal(created.code, 0, created.stderr);
        assert.match(
          created.stdout,
          /^rotate-codec-key\/kv-prod\/codec-ring-\w+: active\n {2}every: quarterly/,
        );
        try {
          assert.equal((await rekey('schedule', 'trigger', workflowId)).code, 0);
          await until('the scheduled run to add a key', async () => {
            const now = await readCodecKeyring(
              createSecretStore('kv-prod', config.stores['kv-prod'] as never),
              secret,
            );
            return now.keys.size === 4 || undefined;
          });
          // The run ends before the worker stops: a run left open would hold the ring's lock.
          const run = (await client.schedule.getHandle(workflowId).describe()).info.recentActions.at(-1)
            ?.action.workflow;
          assert.ok(run);
          await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result();
        } finally {
          await rekey('schedule', 'delete', workflowId);
        }
      });
    });
  });
});
