// The `rekey` command line. Exit codes: 0 done, 1 the run failed, 2 bad usage or input.
import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { type ScheduleHandle, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { parsePrivateKey } from '../activities/keys';
import { writeFileAtomicSync } from '../activities/local-files';
import { createRotationActivities } from '../activities/rotation';
import { resignCliToml } from '../activities/tokens';
import { ConfigError, loadConfig } from '../config/load';
import { Config } from '../config/schema';
import { summarize } from '../config/summary';
import { storeRegistry } from '../worker/worker';
import { errorText } from '../workflows/errors';
import type { DecisionKind, PendingGate } from '../workflows/progress';
import type { HopResult } from '../workflows/promote';
import type { RolloverResult } from '../workflows/rollover';
import { formatHops, formatProgress, formatRotateResult, formatVerify } from './format';
import {
  checkChain,
  checkRolloverTtl,
  decideGate,
  expandToKeyGroups,
  progressOf,
  type Requester,
  RunRefused,
  startPromotion,
  startRollover,
  startRotation,
  withClient,
} from './runs';
import { createRolloverSchedule, createRotationSchedule, formatSchedule } from './schedules';
import { dataSizes, formatBytes } from './sync-status';

export class UsageError extends Error {}

const HELP = `rekey: secret rotation and data promotion runbooks as durable Temporal workflows

Usage: rekey <command> [options]

Commands:
  quickstart [--dir D] [--keep]
                               try rekey on this machine: starts a local Temporal dev server and a
                               worker, sets up a 'local' environment in D (default .rekey/quickstart)
                               and rotates its key; --keep leaves the Web UI up until Ctrl-C
  rotate --env E [--env E ...] [--dry-run] [--no-preserve-token] [--no-sync-mounted-keys]
         [--yes] [--wait]      rotate the JWT signing keys of environments (and every environment
                               sharing their key group): new pair in each store, key files on each
                               host, publisher token re-signed with the same identity, service
                               restarted and publish checked; an environment that fails is rolled
                               back. Needs --yes unless the config requires an approval for it.
  rollover KEYRING [--ttl 90d] [--dry-run] [--approval] [--yes] [--wait]
                               overlap rollover for services that accept several keys: add a key,
                               roll out, flip active, wait --ttl (default: the keyring's
                               tokenLifetime; shorter is refused), remove the old key, roll out
  promote FROM TO [TO ...] [--dry-run] [--consistent] [--allow-shrink] [--yes] [--wait]
                               copy FROM's data dir down the chain one hop at a time (rsync from
                               host to host, --delete): dry run on the running destination,
                               approval (config), stop the destination, hard-link snapshot, copy
                               (deleting no more than the plan showed), re-sign the destination
                               token with its own key, start, publish; a failure restores the
                               snapshot. A plan that empties the destination or deletes more than
                               promotion.maxDeleteShare (50%) of its files is refused unless
                               --allow-shrink. --consistent: copy live, then stop FROM for a final
                               pass and start it again (its downtime is reported)
  verify                       read-only: pair parity, fingerprints and key-group policy of every
                               environment's store and host key files
  status ID                    steps of a run and their state, pending gate, decisions; for a
                               promotion also the running hop and its copy (bytes, current file)
  approve ID --by NAME [--key FILE] [--comment T]
  reject ID --by NAME [--key FILE] [--comment T]
  expedite ID --by NAME [--key FILE] [--comment T]
                               decide a run's gate (approve, reject) or end a rollover's wait early
                               (expedite), as a Workflow Update the run checks: NAME must be a
                               configured approver, the decision names the digest of the plan shown
                               at the gate, and on signed gates carries NAME's SSH signature over
                               "<decision> <digest>", made with ssh-keygen -Y sign from --key FILE
                               or ssh-agent. A refused decision changes nothing (exit 2).
  schedule create rotate-jwt --env E [--env E ...] --every quarter|month|week [--yes]
                               a Temporal Schedule that rotates those environments at 06:00 UTC
                               on the first day of each period; a run still going when the next
                               is due is skipped; missed runs are caught up within a day
  schedule create rollover KEYRING --every quarter|month|week
                               the same for an overlap rollover of a keyring
  schedule list | describe ID | pause ID [--note T] | unpause ID | trigger ID | delete ID
  sync-status                  data size of every environment's data dir (du over SSH), read-only
  worker                       run a rekey worker (task queue "rekey") until SIGINT/SIGTERM
  config check [--config F]    validate rekey.yaml; print a summary or every problem with its path
  config schema                print the JSON Schema of rekey.yaml (for editors)
  resign-token --cli-toml P --private-key P [--old-public-key P] [--field NAME]
                               re-sign the publisher token in a cli.toml with a private key, keeping
                               its identity (iss, sub, aud, hex_identity); local, no Temporal needed.
                               Use it on a destination after copying data from another environment.
                               --old-public-key: the key that signed the token (the source's); a
                               token it did not sign is refused. Without it nothing is checked.

Options:
  --config F     rekey.yaml to use (default: ./rekey.yaml, or $REKEY_CONFIG)
  --as NAME      on rotate, rollover, promote, schedule create: who starts the run, signed with
  --key FILE     --key FILE or ssh-agent; required where approvals.separateFromStarter is set
  -h, --help     this help

Temporal connection: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS_* or a temporal.toml profile (Temporal's environment configuration).
REKEY_TASK_QUEUE overrides the task queue (default "rekey") for both the worker and new runs.

Exit codes: 0 done, 1 the run failed, 2 bad usage or input.`;

type Handler = (args: string[]) => Promise<number>;

/** --as NAME [--key FILE]: who starts the run (signed when NAME has a configured key). */
function requester(values: { as?: string; key?: string }): Requester | undefined {
  if (values.key && !values.as) throw new UsageError('--key signs the request of --as NAME: give --as too');
  return values.as ? { name: values.as, ...(values.key ? { keyFile: values.key } : {}) } : undefined;
}

function configPath(value: string | undefined): string {
  return value ?? process.env.REKEY_CONFIG ?? 'rekey.yaml';
}

async function configCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const file = configPath(values.config);
  const cfg = loadConfig(file);
  console.log(`${file}: ok`);
  console.log(summarize(cfg));
  return 0;
}

async function configSchema(): Promise<number> {
  console.log(JSON.stringify(z.toJSONSchema(Config, { io: 'input' }), null, 2));
  return 0;
}

async function resignToken(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'cli-toml': { type: 'string' },
      'private-key': { type: 'string' },
      'old-public-key': { type: 'string' },
      field: { type: 'string', default: 'spacetimedb_token' },
    },
  });
  const tomlPath = values['cli-toml'];
  const keyPath = values['private-key'];
  if (!tomlPath || !keyPath) throw new UsageError('resign-token needs --cli-toml P and --private-key P');
  const text = readLocal(tomlPath, 'cli.toml');
  const privatePem = readLocal(keyPath, 'private key');
  parsePrivateKey(privatePem, keyPath);
  const oldKeyPath = values['old-public-key'];
  const signers = oldKeyPath ? [readLocal(oldKeyPath, 'old public key')] : null;
  if (!signers)
    console.log(
      `${tomlPath}: the token's signature is not checked (pass --old-public-key with the key that signed it)`,
    );
  const result = await resignCliToml(text, privatePem, values.field, tomlPath, signers);
  if (result.changed) writeFileAtomicSync(tomlPath, result.text, statSync(tomlPath).mode & 0o777);
  const id = result.after;
  console.log(`${tomlPath}: ${result.changed ? 're-signed' : 'already signed by this key; unchanged'}`);
  console.log(
    `identity kept: iss=${id.iss} sub=${id.sub}${id.hexIdentity ? ` hex_identity=${id.hexIdentity}` : ''}`,
  );
  return 0;
}

function readLocal(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${path}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code})`);
  }
}

async function rotate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      env: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean', default: false },
      'no-preserve-token': { type: 'boolean', default: false },
      'no-sync-mounted-keys': { type: 'boolean', default: false },
      yes: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      as: { type: 'string' },
      key: { type: 'string' },
    },
  });
  if (!values.env?.length) throw new UsageError('rotate needs at least one --env');
  const config = loadConfig(configPath(values.config));
  const environments = expandToKeyGroups(config, values.env);
  const added = environments.filter((e) => !values.env?.includes(e));
  if (added.length > 0) console.log(`also rotating (same key group): ${added.join(', ')}`);
  const gated = environments.some((e) => config.approvals.requiredFor.includes(e));
  const dryRun = values['dry-run'];
  if (!dryRun && !values.yes && !gated) {
    throw new UsageError(
      `rotate changes keys of ${environments.join(', ')}: pass --yes, or require an approval for them in the config (approvals.requiredFor), or preview with --dry-run`,
    );
  }
  return withClient(async (client) => {
    const handle = await startRotation(
      client,
      config,
      {
        environments,
        dryRun,
        preserveToken: !values['no-preserve-token'],
        syncMountedKeys: !values['no-sync-mounted-keys'],
      },
      { as: requester(values) },
    );
    console.log(`started ${handle.workflowId}${dryRun ? ' (dry run)' : ''}`);
    if (gated && !dryRun)
      console.log(`waiting for approval: rekey approve ${handle.workflowId} --by NAME [--key FILE]`);
    if (!values.wait && !dryRun) {
      console.log(`follow it: rekey status ${handle.workflowId}`);
      return 0;
    }
    const result = await handle.result();
    console.log(formatRotateResult(result));
    return result.ok ? 0 : 1;
  });
}

async function rollover(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      ttl: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      approval: { type: 'boolean', default: false },
      yes: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      as: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const [keyring] = positionals;
  if (!keyring) throw new UsageError('rollover needs a keyring name');
  const config = loadConfig(configPath(values.config));
  checkRolloverTtl(config, keyring, values.ttl);
  const dryRun = values['dry-run'];
  if (!dryRun && !values.yes && !values.approval) {
    throw new UsageError(
      `rollover changes keyring ${keyring}: pass --yes, or --approval to wait for an approver before the flip`,
    );
  }
  return withClient(async (client) => {
    const handle = await startRollover(
      client,
      config,
      {
        keyring,
        dryRun,
        requireApproval: values.approval,
        ...(values.ttl ? { ttl: values.ttl } : {}),
      },
      { as: requester(values) },
    );
    console.log(
      `started ${handle.workflowId}${dryRun ? ' (dry run)' : ''}; follow it: rekey status ${handle.workflowId}`,
    );
    if (!values.wait && !dryRun) return 0;
    const r: RolloverResult = await handle.result();
    console.log(
      r.dryRun
        ? `dry run: keyring ${r.keyring} holds ${r.before.kids.join(', ')}, active ${r.before.active}; nothing was changed`
        : `keyring ${r.keyring}: active ${r.active}, removed ${r.removed}${r.expedited ? ` (wait expedited by ${r.expedited.by}, ${Math.round(r.expedited.cutShortMs / 3600e3)}h cut short)` : ''}; next rotation due ${r.nextRotation}`,
    );
    return 0;
  });
}

async function promote(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      consistent: { type: 'boolean', default: false },
      'allow-shrink': { type: 'boolean', default: false },
      yes: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      as: { type: 'string' },
      key: { type: 'string' },
    },
  });
  if (positionals.length < 2)
    throw new UsageError('promote needs a chain of at least two environments, e.g. prod test dev');
  const config = loadConfig(configPath(values.config));
  checkChain(config, positionals);
  const dryRun = values['dry-run'];
  const gated = positionals.slice(1).every((e) => config.approvals.requiredFor.includes(e));
  if (!dryRun && !values.yes && !gated) {
    throw new UsageError(
      `promote replaces the data of ${positionals.slice(1).join(', ')} (files only there are deleted): pass --yes, require an approval for them, or preview with --dry-run`,
    );
  }
  return withClient(async (client) => {
    const handle = await startPromotion(
      client,
      config,
      {
        chain: positionals,
        dryRun,
        consistent: values.consistent,
        allowShrink: values['allow-shrink'],
      },
      { as: requester(values) },
    );
    console.log(
      `started ${handle.workflowId}${dryRun ? ' (dry run)' : ''}; follow it: rekey status ${handle.workflowId}`,
    );
    if (!values.wait && !dryRun) return 0;
    const hops: HopResult[] = await handle.result();
    console.log(formatHops(hops));
    return 0;
  });
}

async function verify(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const config = loadConfig(configPath(values.config));
  const activities = createRotationActivities({ config, store: storeRegistry(config) });
  const report = await activities.verifyKeys({ includeHosts: true });
  console.log(formatVerify(report));
  return report.ok ? 0 : 1;
}

function runIdArg(positionals: string[], command: string): string {
  const [id] = positionals;
  if (!id) throw new UsageError(`${command} needs a workflow id, e.g. rotate-jwt/prod`);
  return id;
}

async function status(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const id = runIdArg(positionals, 'status');
  return withClient(async (client) => {
    const desc = await client.workflow.getHandle(id).describe();
    console.log(`${id}: ${desc.status.name}`);
    const progress = await progressOf(client, id);
    console.log(formatProgress(progress));
    // A promotion's hop runs as a child workflow: show where it is too.
    if (progress.childWorkflowId && progress.state === 'running') {
      const child = await progressOf(client, progress.childWorkflowId).catch(() => undefined);
      if (child) console.log(`${progress.childWorkflowId}:\n${formatProgress(child)}`);
    }
    return ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(desc.status.name) ? 1 : 0;
  });
}

/** Refuses a gate other than the one the approver read: by --digest, or by asking on a terminal. */
async function confirmGate(kind: DecisionKind, gate: PendingGate, digest?: string): Promise<void> {
  if (digest !== undefined) {
    if (digest.length < 12 || !gate.digest?.startsWith(digest))
      throw new RunRefused(
        `the plan at the gate is ${gate.digest ?? 'a run of an older rekey'}, not ${digest}${digest.length < 12 ? ' (give at least 12 characters)' : ''}: read it again (rekey status) and decide on that one`,
      );
    return;
  }
  console.log(`${gate.name}: ${gate.summary}\ndigest: ${gate.digest}`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${kind} this plan? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new RunRefused(`not ${DONE[kind]}: nothing was sent`);
  } finally {
    rl.close();
  }
}

const DONE: Record<DecisionKind, string> = {
  approve: 'approved',
  reject: 'rejected',
  expedite: 'expedited',
};

/** approve / reject / expedite: an Update the run's validator checks (signature, digest, approver). */
function decisionCommand(kind: DecisionKind): Handler {
  return async (args) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        by: { type: 'string' },
        key: { type: 'string' },
        digest: { type: 'string' },
        comment: { type: 'string' },
      },
    });
    const id = runIdArg(positionals, kind);
    if (!values.by) throw new UsageError(`${kind} needs --by NAME (a configured approver)`);
    if (!values.digest && !(process.stdin.isTTY && process.stdout.isTTY))
      throw new UsageError(
        `${kind} needs --digest PREFIX, the plan digest (or its first 12+ characters) that rekey status ${id} shows: you decide on the plan you read`,
      );
    const config = loadConfig(configPath(values.config));
    const by = values.by;
    return withClient(async (client) => {
      const decided = await decideGate(client, config, id, kind, {
        by,
        ...(values.comment ? { comment: values.comment } : {}),
        ...(values.key ? { keyFile: values.key } : {}),
        confirm: (gate) => confirmGate(kind, gate, values.digest),
      });
      const { result } = decided;
      console.log(`${DONE[kind]} ${decided.id} as ${by}: ${decided.summary}`);
      if (!result) console.log(`sent as a signal (a run of an older rekey); see rekey status ${id}`);
      else if (result.outcome === 'waiting')
        console.log(
          `waiting for ${result.required - result.approvedBy.length} more approval(s) (so far: ${result.approvedBy.join(', ')})`,
        );
      else if (kind === 'expedite')
        console.log('the wait ends now and the old key is removed next; tokens it signed stop working');
      else
        console.log(
          result.outcome === 'passed'
            ? 'the gate is passed: the run goes on'
            : 'the run ends; nothing more is changed',
        );
      return 0;
    });
  };
}

// worker and quickstart load their modules on use: quickstart needs @temporalio/testing, a dev
// dependency absent after `npm install --omit=dev`, and no other command needs either of them.
async function worker(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const { runWorker } = await import('../worker/main');
  await runWorker(configPath(values.config));
  return 0;
}

async function quickstartCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string' }, keep: { type: 'boolean', default: false } },
  });
  let quickstart: typeof import('./quickstart').quickstart;
  try {
    ({ quickstart } = await import('./quickstart'));
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' &&
      /@temporalio\/testing/.test(String(err))
    ) {
      throw new Error(
        'quickstart needs the dev dependencies (@temporalio/testing runs its Temporal dev server): run `npm install` without --omit=dev',
      );
    }
    throw err;
  }
  return quickstart({ ...(values.dir ? { dir: values.dir } : {}), keep: values.keep });
}

async function scheduleCreate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      env: { type: 'string', multiple: true },
      every: { type: 'string' },
      yes: { type: 'boolean', default: false },
      as: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const every = values.every;
  if (!every) throw new UsageError('schedule create needs --every PERIOD');
  const config = loadConfig(configPath(values.config));
  if (positionals[0] === 'rollover') {
    const keyring = positionals[1];
    if (!keyring) throw new UsageError('schedule create rollover needs a keyring name');
    if (!values.yes)
      throw new UsageError(`scheduled rollovers change keyring ${keyring} unattended: pass --yes`);
    return withClient(async (client) => {
      console.log(
        formatSchedule(await (await createRolloverSchedule(client, config, { keyring, every })).describe()),
      );
      return 0;
    });
  }
  if (positionals[0] !== 'rotate-jwt')
    throw new UsageError('schedule create takes rotate-jwt or rollover KEYRING');
  if (!values.env?.length) throw new UsageError('schedule create rotate-jwt needs --env E');
  const environments = expandToKeyGroups(config, values.env);
  if (!values.yes && !environments.some((e) => config.approvals.requiredFor.includes(e))) {
    throw new UsageError(
      `scheduled rotations of ${environments.join(', ')} would change keys unattended: pass --yes, or require an approval for them (approvals.requiredFor)`,
    );
  }
  return withClient(async (client) => {
    const handle = await createRotationSchedule(client, config, {
      environments,
      every,
      as: requester(values),
    });
    console.log(formatSchedule(await handle.describe()));
    return 0;
  });
}

function scheduleCommand(
  action: (handle: ScheduleHandle, values: { note?: string }) => Promise<string | undefined>,
): Handler {
  return async (args) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { note: { type: 'string' } },
    });
    const id = runIdArg(positionals, 'schedule');
    return withClient(async (client) => {
      const out = await action(client.schedule.getHandle(id), values);
      if (out) console.log(out);
      return 0;
    });
  };
}

async function scheduleList(): Promise<number> {
  return withClient(async (client) => {
    for await (const s of client.schedule.list()) {
      console.log(
        `${s.scheduleId}  ${s.state.paused ? 'paused' : 'active'}  next ${s.info.nextActionTimes[0]?.toISOString() ?? 'none'}`,
      );
    }
    return 0;
  });
}

async function syncStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const config = loadConfig(configPath(values.config));
  const rows = await dataSizes(config);
  console.log(`${'ENVIRONMENT'.padEnd(12)} ${'HOST'.padEnd(14)} ${'SIZE'.padStart(10)}  DATA DIR`);
  for (const r of rows) {
    console.log(
      `${r.env.padEnd(12)} ${r.host.padEnd(14)} ${(r.bytes === null ? (r.problem ?? 'unknown') : formatBytes(r.bytes)).padStart(10)}  ${r.dataDir}`,
    );
  }
  return rows.every((r) => r.bytes !== null) ? 0 : 1;
}

const COMMANDS: Record<string, Handler> = {
  promote,
  rollover,
  'sync-status': syncStatus,
  'schedule create': scheduleCreate,
  'schedule list': scheduleList,
  'schedule describe': scheduleCommand(async (h) => formatSchedule(await h.describe())),
  'schedule pause': scheduleCommand(async (h, v) => {
    await h.pause(v.note ?? 'paused with rekey');
    return `paused ${h.scheduleId}`;
  }),
  'schedule unpause': scheduleCommand(async (h) => {
    await h.unpause();
    return `unpaused ${h.scheduleId}`;
  }),
  'schedule trigger': scheduleCommand(async (h) => {
    await h.trigger();
    return `triggered ${h.scheduleId}: a run starts now; its workflow id shows in rekey schedule describe ${h.scheduleId}`;
  }),
  'schedule delete': scheduleCommand(async (h) => {
    await h.delete();
    return `deleted ${h.scheduleId}`;
  }),
  quickstart: quickstartCommand,
  rotate,
  verify,
  status,
  approve: decisionCommand('approve'),
  reject: decisionCommand('reject'),
  expedite: decisionCommand('expedite'),
  worker,
  'config check': configCheck,
  'config schema': configSchema,
  'resign-token': resignToken,
};

export async function run(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help') {
    console.log(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  const two = argv.slice(0, 2).join(' ');
  const [name, rest] = two in COMMANDS ? [two, argv.slice(2)] : [argv[0] as string, argv.slice(1)];
  const handler = COMMANDS[name];
  if (!handler) {
    console.error(`rekey: unknown command "${argv.join(' ')}"; see rekey --help`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  try {
    return await handler(rest);
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof ConfigError || err instanceof UsageError || err instanceof RunRefused) {
    console.error(`rekey: ${err.message}`);
    return 2;
  }
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`rekey: ${err.message}; see rekey --help`);
    return 2;
  }
  if (err instanceof ApplicationFailure) {
    console.error(`rekey: ${err.message}`);
    return err.type === 'BadInput' ? 2 : 1;
  }
  if (err instanceof WorkflowFailedError) {
    console.error(`rekey: the run failed: ${errorText(err)}`);
    return 1;
  }
  console.error(`rekey: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}

export function main(argv: string[]): void {
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) main(process.argv.slice(2));
