// The documents' command examples stay true to the CLI: every `node bin/rekey ...` line in the
// README, docs/ and the test and bench READMEs is a command line rekey accepts (command, options,
// argument count), and the read-only ones (config check, verify, sync-status, dry runs, status)
// run against the test servers and succeed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { accepts } from '../client/cli';
import { createSecretStore } from '../stores/drivers';
import { rekeyAsync, type TemporalFixture, temporalFixture } from './helpers';
import { testEnv } from './infra/env';
import { keyringActivities } from './infra/keyring-topology';
import { portOf } from './infra/ports';
import { buildTopology, seed, stopServices, type Topology } from './infra/topology';

const repo = resolve(__dirname, '../..');

/** Shell words of a line's first command: quotes kept together, an unquoted # or a redirection or
 * list operator (>, <, |, ||, &&, ;) ends it. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:'([^']*)'|"([^"]*)"|(#.*|[0-9]?[<>].*|\|.*|&&.*|;.*)|(\S+))/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m[3] !== undefined) break;
    const w = m[1] ?? m[2] ?? m[4];
    if (w !== undefined && w !== '') out.push(w);
  }
  return out;
}

/** The documents whose commands are checked: the README, every Markdown file in docs/, and the
 * test and bench READMEs. */
function documents(): string[] {
  const docs = readdirSync(join(repo, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  return ['README.md', ...docs.sort(), 'test/README.md', 'bench/README.md'];
}

/** Every `node bin/rekey ...` command line in the documents' shell blocks, as argv after `rekey`. */
function examples(): { line: string; argv: string[] }[] {
  const text = documents()
    .map((f) => readFileSync(join(repo, f), 'utf8'))
    .join('\n');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((line) => ({ line, w: words(line) }))
    .filter(({ w }) => w[0] === 'node' && w[1] === 'bin/rekey')
    .map(({ line, w }) => ({ line: line.trim(), argv: w.slice(2) }));
}

const READ_ONLY = (argv: string[]) =>
  ['verify', 'sync-status', 'status', 'history'].includes(argv[0] ?? '') ||
  ['config check', 'secret status'].includes(argv.slice(0, 2).join(' ')) ||
  argv.includes('--dry-run');

describe('document examples', () => {
  const all = examples();

  it('every rekey command line in the README and docs/ is one rekey accepts', async () => {
    assert.ok(all.length >= 20, `found ${all.length} examples`);
    for (const { line, argv } of all) assert.equal(await accepts(argv), true, line);
  });

  describe('the read-only ones run against the test servers', () => {
    let fx: TemporalFixture;
    let t: Topology;
    before(async () => {
      fx = await temporalFixture('readme');
      // The README's keyring `api`, read by its rollover dry run (its replicas are never touched),
      // and its secret `runner-token`, planned by its dry run (here in prod's vault).
      t = buildTopology('readme', portOf('readme'), {
        secrets: {
          'runner-token': {
            environments: ['prod'],
            generator: { type: 'random', bytes: 32, encoding: 'hex' },
            locations: [{ name: 'readme-runner-token' }],
            rotateEvery: '90d',
          },
        },
        keyrings: {
          api: {
            store: 'kv-prod',
            secret: 'readme-keyring',
            tokenLifetime: '90d',
            replicas: [
              { host: 'vm-prod', service: 'spacetimedb', url: `http://127.0.0.2:${portOf('readme') + 1}` },
            ],
          },
        },
      });
      await seed(t);
      await keyringActivities(t).addKey({ keyring: 'api', runId: 'readme-seed' });
      await createSecretStore('kv-prod', t.config.stores['kv-prod'] as never).set(
        'readme-runner-token',
        randomBytes(32).toString('hex'),
        {},
      );
    });
    after(async () => {
      await stopServices(t);
      await fx.close();
    });

    it("docs/automation.md's script runs as written: config, verify, what is due", () => {
      const doc = readFileSync(join(repo, 'docs/automation.md'), 'utf8');
      const script = /## The guide's order, as a script[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)?.[1];
      assert.ok(script, 'the script block');
      const res = spawnSync('bash', ['-c', script], {
        cwd: repo,
        encoding: 'utf8',
        env: { ...process.env, REKEY_CONFIG: t.configFile },
      });
      assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stdout, /^ok: runner-token in prod \(version [0-9a-f]+, due \d{4}-/m);
    });

    it('succeed (exit 0), dry runs before the status of the runs they start', async () => {
      // The README's --config names its own file: here the test topology's.
      const runs = all
        .filter(({ argv }) => READ_ONLY(argv))
        .map(({ line, argv }) => ({
          line,
          argv: argv.map((a, i) => (argv[i - 1] === '--config' ? t.configFile : a)),
        }))
        .sort((a, b) => Number(a.argv[0] === 'status') - Number(b.argv[0] === 'status'));
      assert.ok(
        runs.some(({ argv }) => argv.includes('--dry-run')) && runs.some(({ argv }) => argv[0] === 'status'),
      );
      await fx.withWorker(t.config, async () => {
        for (const { line, argv } of runs) {
          // Not spawnSync: the worker runs in this process and must keep polling meanwhile.
          const res = await rekeyAsync(argv, {
            env: {
              ...process.env,
              TEMPORAL_ADDRESS: testEnv().temporal.address,
              TEMPORAL_NAMESPACE: 'readme',
              REKEY_TASK_QUEUE: fx.taskQueue,
              REKEY_CONFIG: t.configFile,
            },
          });
          assert.equal(res.code, 0, `${line}\n${res.out}`);
        }
      });
    });
  });
});
