// `npm run bench:secrets`: 100 SSM parameters rotated (strategy replace, no consumers) through
// rekey's one run for all of them (rekey secret rotate --all: rotateSecrets), through rekey's run
// per secret (one rotateSecret workflow each, side by side), and through a direct script making
// the same SDK calls one parameter after another without Temporal, in turn in one run on moto.
// Last line: secrets ratio=<rekey's one run / direct> (target <= 1.0) per_secret_ratio=<...>.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import { generate } from '../activities/generators';
import { startSecretRotation, startSecretsRotation } from '../client/runs/secret';
import { parseConfig } from '../config/load';
import { SsmStore } from '../stores/aws-ssm/driver';
import { temporalFixture } from '../test/helpers';
import { testEnv } from '../test/infra/env';
import { buildTopology } from '../test/infra/topology';
import { CpuMeter } from './cpu';

const N = Number(process.env.BENCH_SECRETS_N ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';

async function main() {
  const fx = await temporalFixture('bench');
  const t = buildTopology('bench-secrets', 3260);
  const aws = testEnv().aws;
  const prefix = `/bench-${randomBytes(3).toString('hex')}`;
  const names = Array.from({ length: N }, (_, i) => `p${String(i).padStart(3, '0')}`);
  const doc = parse(readFileSync(t.configFile, 'utf8'));
  const config = parseConfig(
    {
      ...doc,
      stores: { ...doc.stores, ssm: { type: 'aws-ssm', region: aws.region, endpoint: aws.endpoint } },
      secrets: Object.fromEntries(
        names.map((n) => [
          n,
          {
            environments: ['local'],
            generator: { type: 'random', bytes: 32, encoding: 'hex' },
            locations: [{ store: 'ssm', name: `${prefix}/{env}/${n}` }],
          },
        ]),
      ),
    },
    t.configFile,
  );
  const ssm = new SsmStore('ssm', { type: 'aws-ssm', region: aws.region, endpoint: aws.endpoint });
  const param = (n: string) => `${prefix}/local/${n}`;
  for (const n of names) await ssm.set(param(n), randomBytes(32).toString('hex'), {});

  // The same calls the activities make for one parameter: the plan's read of its versions, the
  // write's check for its own version, the new value, the write, and the two labels.
  const direct = async (round: number) => {
    for (const n of names) {
      const current = (await ssm.listVersions(param(n))).at(-1)?.version as string;
      await ssm.listVersions(param(n));
      const value = await generate(
        { type: 'random', bytes: 32, encoding: 'hex' },
        { env: 'local', secret: n },
      );
      const v = await ssm.set(param(n), value, { rekeyRunId: `direct-${round}`, step: 'write', secret: n });
      await ssm.label(param(n), v.version, ['current']);
      await ssm.label(param(n), current, ['previous']);
    }
  };
  const sides = ['batch', 'rekey', 'direct'] as const;
  const times = { batch: [] as number[], rekey: [] as number[], direct: [] as number[] };
  // CPU seconds each process spent per side: where the time goes on a machine they share.
  const cpu = { batch: new CpuMeter(), rekey: new CpuMeter(), direct: new CpuMeter() };
  try {
    await fx.withWorker(config, async () => {
      for (let i = 0; i < ROUNDS; i++) {
        // Rotate the order so that no side always runs on a warmer machine.
        const order = sides.map((_, k) => sides[(k + i) % sides.length] as (typeof sides)[number]);
        for (const side of order) {
          const start = performance.now();
          cpu[side].start();
          if (side === 'batch') {
            const run = await startSecretsRotation(
              fx.client,
              config,
              { environment: 'local', select: 'all' },
              { taskQueue: fx.taskQueue },
            );
            await run.result();
          } else if (side === 'rekey') {
            const runs = await Promise.all(
              names.map((secret) =>
                startSecretRotation(
                  fx.client,
                  config,
                  { secret, environment: 'local' },
                  { taskQueue: fx.taskQueue },
                ),
              ),
            );
            await Promise.all(runs.map((h) => h.result()));
          } else await direct(i);
          times[side].push(performance.now() - start);
          cpu[side].stop();
        }
      }
    });
  } finally {
    await fx.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const batch = median(times.batch);
  const rekey = median(times.rekey);
  const seq = median(times.direct);
  console.log(`rounds: ${ROUNDS} (median of each side), ${N} parameters each`);
  console.log(`rekey, one run for all (rotateSecrets, ${N} secrets):         ${batch.toFixed(0)} ms`);
  console.log(`rekey, a rotateSecret workflow per parameter, side by side: ${rekey.toFixed(0)} ms`);
  console.log(`direct (the same SDK calls, one parameter after another):   ${seq.toFixed(0)} ms`);
  for (const side of sides) console.log(`CPU ms per parameter, ${side}: ${cpu[side].perItem(N * ROUNDS)}`);
  console.log(`secrets ratio=${(batch / seq).toFixed(2)} per_secret_ratio=${(rekey / seq).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
