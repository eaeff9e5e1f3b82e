// The small library behind the CLI: start, decide, query and await rekey workflow runs, always
// through the definitions in workflows/ (workflow functions, messages), never by string names.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  Client,
  Connection,
  type Workflow,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
  type WorkflowResultType,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { codecKeyringOf } from '../activities/codec-key';
import { hopProblem } from '../activities/hop-checks';
import { gatePolicy } from '../config/approvals';
import { parseDuration } from '../config/duration';
import { keyGroupMembers } from '../config/key-groups';
import { starterConfigOf } from '../config/run-config';
import type { Config } from '../config/schema';
import { closest } from '../config/suggest';
import { taskQueue } from '../shared/task-queue';
import type { TransferProgress } from '../shared/transfer';
import { dataConverterOf } from '../temporal/codec-keys';
import { connectConfig } from '../temporal/connection';
import { promote, rolloverSigningKey, rotateCodecKey, rotateJwtKeys, rotateSecret } from '../workflows';
import { requestMessage } from '../workflows/approvals';
import { errorText } from '../workflows/errors';
import {
  codecKeyWorkflowId,
  PromoteInput,
  promoteWorkflowId,
  RolloverInput,
  RotateInput,
  RotateSecretInput,
  rolloverWorkflowId,
  rotateWorkflowId,
  secretWorkflowId,
} from '../workflows/inputs';
import type { DecisionKind, PendingGate, Progress } from '../workflows/messages';
import {
  approveUpdate,
  type DecisionInput,
  type DecisionResult,
  expediteUpdate,
  legacyApproveSignal,
  legacyExpediteSignal,
  legacyRejectSignal,
  progressQuery,
  rejectUpdate,
} from '../workflows/messages';
import type { RotateResult } from '../workflows/rotate';
import { CliError } from './cli-error';
import { signAs } from './sign';

/**
 * Runs `fn` with a client of the configured Temporal server. `needsWorker`: the command starts or
 * decides a run, which would wait silently with no worker on the task queue, so it is refused.
 */
export async function withClient<T>(
  fn: (client: Client) => Promise<T>,
  opts: { needsWorker?: boolean; config?: Config } = {},
): Promise<T> {
  const { connectionOptions, namespace } = connectConfig();
  const address = connectionOptions.address;
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '10s' });
  } catch (err) {
    throw new CliError(
      `cannot reach the Temporal server at ${address} (${errorText(err)}): set TEMPORAL_ADDRESS=host:port or a temporal.toml profile (TEMPORAL_PROFILE), or start one (rekey quickstart --keep, temporal server start-dev)`,
      1,
    );
  }
  try {
    // With a codec configured, payloads are sealed on the way out and opened on the way in.
    const client = new Client({ connection, namespace, ...(await dataConverterOf(opts.config)) });
    if (opts.needsWorker) await requireWorker(client, address);
    return await fn(client);
  } finally {
    await connection.close();
  }
}

/** Refuses when no worker has polled the task queue lately (the server keeps recent pollers). */
async function requireWorker(client: Client, address: string): Promise<void> {
  const queue = taskQueue();
  const { pollers } = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: queue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  if (!pollers?.length)
    throw new CliError(
      `no worker is polling task queue "${queue}" at ${address} (namespace ${client.options.namespace}): start one with rekey worker --config FILE`,
    );
}

/** Requests cancellation of `workflowId` with a reason (kept in its history). */
export async function cancelRun(client: Client, workflowId: string, reason: string): Promise<void> {
  await client.workflowService.requestCancelWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId },
    reason,
    identity: client.options.identity,
    requestId: randomUUID(),
  });
}

/**
 * The run's result, saying while it waits what the run is at: each step it reaches, a gate that
 * waits for a decision (and how to give it), and every minute that nothing changed.
 */
export async function followRun<W extends Workflow>(
  client: Client,
  handle: WorkflowHandle<W>,
  everyMs = 2000,
): Promise<WorkflowResultType<W>> {
  let last = '';
  let said = Date.now();
  const say = async () => {
    const run = await progressOf(client, handle.workflowId).catch(() => undefined);
    if (!run || run.state === 'completed' || run.state === 'failed' || run.state === 'cancelled') return;
    // A promotion's gate and copy are in its running hop.
    const hop = run.childWorkflowId
      ? await progressOf(client, run.childWorkflowId).catch(() => undefined)
      : undefined;
    const p = hop ?? run;
    const step = p.steps.find((s) => s.name === p.current);
    const where = hop ? `${run.current}: ` : '';
    const now = p.pendingGate
      ? `${where}waiting at ${p.pendingGate.name} for ${p.pendingGate.approvers.join(', ')} (${decideHint(handle.workflowId, p.pendingGate)})`
      : `${where}at ${p.current ?? 'the start'}${step?.detail ? `: ${step.detail}` : ''}`;
    if (now !== last || Date.now() - said > 60_000) {
      console.log(`  ${now === last ? 'still ' : ''}${now}`);
      [last, said] = [now, Date.now()];
    }
  };
  const timer = setInterval(() => void say(), everyMs);
  try {
    return await handle.result();
  } finally {
    clearInterval(timer);
  }
}

/** Refuses environments the config doesn't define, naming them and the configured ones. */
function requireKnown(config: Config, environments: string[]): void {
  const unknown = environments.filter((e) => !(e in config.environments));
  if (unknown.length > 0) {
    throw new CliError(
      `unknown environment ${unknown.map((e) => `"${e}"`).join(', ')}; configured: ${Object.keys(config.environments).join(', ')}`,
    );
  }
}

/** The requested environments plus every environment sharing a key group with one of them. */
export function expandToKeyGroups(config: Config, environments: string[]): string[] {
  requireKnown(config, environments);
  return keyGroupMembers(config, environments);
}

/** Who starts a run: `--as NAME`, signed with `--key` or ssh-agent when NAME has a key. */
export interface Requester {
  name: string;
  keyFile?: string;
}

/**
 * `input` with its `requestedBy`. Required where one of `environments` must be approved by someone
 * other than the starter; signed whenever the requester has a configured key.
 */
export function withRequester<T extends Record<string, unknown>>(
  config: Config,
  workflowType: string,
  input: T,
  environments: string[],
  as: Requester | undefined,
  /** A schedule's runs, or the one run (workflow id) this request starts, once. */
  binding: { schedule?: string; workflowId?: string } = {},
): T {
  // Only environments whose changes wait for an approval have a gate to pass.
  const separate = environments.filter(
    (e) => config.approvals.requiredFor.includes(e) && gatePolicy(config, [e]).separateFromStarter,
  );
  if (!as) {
    if (separate.length > 0)
      throw new CliError(
        `${separate.join(', ')} must be approved by someone other than the starter: name yourself with --as NAME (signed with --key FILE or ssh-agent)`,
      );
    return input;
  }
  const bound =
    binding.schedule !== undefined
      ? { schedule: binding.schedule }
      : {
          at: new Date().toISOString(),
          ...(binding.workflowId !== undefined
            ? { workflowId: binding.workflowId, nonce: randomBytes(16).toString('hex') }
            : {}),
        };
  const signature =
    Object.hasOwn(config.approvals.approvers, as.name) && config.approvals.approvers[as.name]
      ? signAs(config, as.name, requestMessage(workflowType, input, bound), as.keyFile)
      : undefined;
  if (!signature && separate.length > 0 && gatePolicy(config, separate).mode === 'signed')
    throw new CliError(
      `${as.name} has no SSH key in the config, so cannot sign the request for ${separate.join(', ')}`,
    );
  return { ...input, requestedBy: { name: as.name, ...(signature ? { signature, ...bound } : {}) } };
}

export async function startRotation(
  client: Client,
  config: Config,
  raw: RotateInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RotateInput.parse(raw);
  const environments = expandToKeyGroups(config, input.environments);
  const workflowId = rotateWorkflowId(environments, input.installOnly);
  const starterConfig = starterConfigOf(config, { kind: 'rotate', environments });
  const args = withRequester(
    config,
    'rotateJwtKeys',
    { ...raw, environments, starterConfig },
    environments,
    opts.as,
    { workflowId },
  );
  return startOnce(client, rotateJwtKeys, {
    workflowId,
    args: [args],
    taskQueue: opts.taskQueue,
    what: `${input.installOnly ? 'a key install on' : 'a rotation of'} ${environments.join(', ')}`,
    summary: `${input.dryRun ? 'plan: ' : ''}${input.installOnly ? 'install the current' : 'rotate'} ${environments.join('+')} JWT keys`,
  });
}

/** The run an id names: a run under another id may hold a secret's CLI id as its lock (a child
 * `environmentLock`); status, cancel and decisions then go to that run, never to the lock. */
export async function runBehind(client: Client, id: string): Promise<string> {
  const held = await heldBy(client, id);
  if (held === undefined) return id;
  if (!held) throw new CliError(`${id} is a lock, not a run, and names no holder`);
  console.log(`${id} is held as a lock by ${held}: acting on ${held}`);
  return held;
}

/** For an id that is a lock: its holder's id ('' if it names none); undefined for anything else. */
async function heldBy(client: Client, id: string): Promise<string | undefined> {
  const d = await client.workflow
    .getHandle(id)
    .describe()
    .catch(() => undefined);
  return d?.type === 'environmentLock' ? (d.parentExecution?.workflowId ?? '') : undefined;
}

/** Starts a run unless one with the same intent (workflow id) is already running. */
async function startOnce<
  W extends
    | typeof rotateJwtKeys
    | typeof promote
    | typeof rolloverSigningKey
    | typeof rotateCodecKey
    | typeof rotateSecret,
>(
  client: Client,
  workflow: W,
  opts: { workflowId: string; args: Parameters<W>; taskQueue?: string; what: string; summary: string },
) {
  const { workflowId, what } = opts;
  try {
    return await client.workflow.start(workflow, {
      taskQueue: taskQueue(opts.taskQueue),
      workflowId,
      args: opts.args,
      staticSummary: opts.summary,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      // The id may be held as a lock by a run started under another id (the Web UI, a schedule).
      const id = (await heldBy(client, workflowId)) || workflowId;
      throw new CliError(`${what} is already running (${id}); see rekey status ${id}`);
    }
    throw err;
  }
}

/** A run's progress, and while it copies data, rsync's last report (the copy activity's heartbeat
 * details: the server keeps them with the pending activity, out of the history). */
export interface RunProgress extends Progress {
  transfer?: TransferProgress;
}

export async function progressOf(client: Client, workflowId: string): Promise<RunProgress> {
  const handle = client.workflow.getHandle(workflowId);
  const progress: RunProgress = await handle.query(progressQuery);
  const copying = progress.current ? progress.steps.find((s) => s.name === progress.current) : undefined;
  if (copying?.status !== 'running') return progress;
  const { raw } = await handle.describe();
  const copy = raw.pendingActivities?.find((a) => a.activityType?.name === 'syncData');
  if (!copy?.heartbeatDetails?.payloads?.length) return progress;
  const transfer = await decodeFromPayloadsAtIndex<TransferProgress | undefined>(
    client.workflow.options.loadedDataConverter,
    0,
    copy.heartbeatDetails.payloads,
  );
  if (!transfer) return progress;
  copying.detail = transferText(transfer);
  return { ...progress, transfer };
}

const transferText = (t: TransferProgress) =>
  `${t.bytes} bytes, ${t.percent}%, ${t.rate}${t.file ? `, at ${t.file}` : ''}${t.attempt > 1 ? `, attempt ${t.attempt}` : ''}`;

const UPDATES = { approve: approveUpdate, reject: rejectUpdate, expedite: expediteUpdate } as const;
const LEGACY_SIGNALS = {
  approve: legacyApproveSignal,
  reject: legacyRejectSignal,
  expedite: legacyExpediteSignal,
} as const;

/** The command that decides a gate, with the digest of the plan it shows: off a terminal
 * `approve` needs it, and it names the plan the approver read. */
export function decideHint(workflowId: string, gate: PendingGate): string {
  const verb = gate.kind === 'expedite' ? 'expedite' : 'approve';
  return `rekey ${verb} ${workflowId} --by NAME${gate.digest ? ` --digest ${gate.digest.slice(0, 23)}` : ''} [--key FILE]`;
}

/** The gate a just-started run opens, once its plan is done: undefined when the run ended or
 * moved on first (a refusal, a skipped gate), or `waitMs` passed. */
export async function openedGate(
  client: Client,
  workflowId: string,
  waitMs = 60_000,
): Promise<{ id: string; gate: PendingGate } | undefined> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const { status } = await client.workflow.getHandle(workflowId).describe();
    if (status.name !== 'RUNNING') return undefined;
    const p = await progressOf(client, workflowId).catch(() => undefined);
    if (p?.pendingGate) return { id: workflowId, gate: p.pendingGate };
    if (p?.steps.some((s) => s.name === 'approval' && s.status !== 'pending' && s.status !== 'running'))
      return undefined;
    await new Promise((r) => setTimeout(r, 300));
  }
  return undefined;
}

/** Where a decision goes: the run itself, or the child it waits on (a promotion's hop). */
async function gateHolder(client: Client, workflowId: string, kind: DecisionKind) {
  const { status } = await client.workflow.getHandle(workflowId).describe();
  const what = kind === 'expedite' ? 'in a wait that can be expedited' : 'waiting for an approval';
  if (status.name !== 'RUNNING')
    throw new CliError(`${workflowId} is not ${what}: it is ${status.name.toLowerCase()}`);
  const progress = await progressOf(client, workflowId);
  if (progress.pendingGate) return { id: workflowId, gate: progress.pendingGate };
  const child = progress.childWorkflowId
    ? await progressOf(client, progress.childWorkflowId).catch(() => undefined)
    : undefined;
  if (child?.pendingGate && progress.childWorkflowId)
    return { id: progress.childWorkflowId, gate: child.pendingGate };
  throw new CliError(`${workflowId} is not ${what} (see rekey status ${workflowId})`);
}

/**
 * Decides the pending gate of `workflowId` (or of its running hop) as `by`: reads the plan's digest,
 * signs "<decision> <digest>" on signed gates (`keyFile`, else ssh-agent) and sends the Update. A
 * refusal by the run's validator (wrong approver, digest, signature, no gate) is a CliError.
 */
/** The workflows of rekey that open gates. */
const GATED_TYPES = ['rotateJwtKeys', 'promoteHop', 'rotateSecret', 'rolloverSigningKey'];

export async function decideGate(
  client: Client,
  config: Config,
  workflowId: string,
  kind: DecisionKind,
  decision: {
    by: string;
    comment?: string;
    keyFile?: string;
    confirm?: (gate: PendingGate) => Promise<void>;
    /** The task queue rekey's workers poll: a run on another one is not rekey's to decide. */
    taskQueue?: string;
  },
): Promise<{ id: string; result?: DecisionResult; summary: string }> {
  const { id, gate } = await gateHolder(client, workflowId, kind);
  // Anyone who may start workflows can start one that shows a gate and its digest: an approver
  // signs only for a rekey run on rekey's task queue, whose activities check the signature.
  const run = await client.workflow.getHandle(id).describe();
  if (!GATED_TYPES.includes(run.type) || (decision.taskQueue && run.taskQueue !== decision.taskQueue))
    throw new CliError(
      `${id} is a ${run.type} on task queue ${run.taskQueue}, not a rekey run${decision.taskQueue ? ` on ${decision.taskQueue}` : ''}: nothing was signed`,
    );
  if (gate.kind !== (kind === 'expedite' ? 'expedite' : 'approval'))
    throw new CliError(
      `${id} is waiting for ${gate.kind === 'expedite' ? 'its wait to end' : 'an approval'}, not ${kind}`,
    );
  // The approver decides on the plan they read: `confirm` refuses a gate other than theirs.
  await decision.confirm?.(gate);
  if (!gate.digest) {
    // A run started by an older rekey: its gates take decisions by signal, by name.
    await client.workflow.getHandle(id).signal(LEGACY_SIGNALS[kind], {
      by: decision.by,
      ...(decision.comment ? { comment: decision.comment } : {}),
    });
    return { id, summary: gate.summary };
  }
  const input: DecisionInput = {
    by: decision.by,
    digest: gate.digest,
    ...(gate.mode === 'signed'
      ? { signature: signAs(config, decision.by, `${kind} ${gate.digest}`, decision.keyFile) }
      : {}),
    ...(decision.comment ? { comment: decision.comment } : {}),
  };
  try {
    const result = await client.workflow.getHandle(id).executeUpdate(UPDATES[kind], { args: [input] });
    return { id, result, summary: gate.summary };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new CliError(`${id} refused the ${kind}: ${errorText(err)}`);
    throw err;
  }
}

/** Refuses, before anything starts, a wait shorter than the keyring's longest token lifetime. */
export function checkRolloverTtl(config: Config, keyring: string, ttl?: string): void {
  const ring = config.keyrings[keyring];
  if (!ring) {
    throw new CliError(
      `unknown keyring "${keyring}"; configured: ${Object.keys(config.keyrings).join(', ') || 'none'}`,
    );
  }
  if (ttl === undefined) return;
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch (err) {
    throw new CliError(`--ttl: ${(err as Error).message}`);
  }
  if (ms < parseDuration(ring.tokenLifetime)) {
    throw new CliError(
      `--ttl ${ttl} is shorter than keyring ${keyring}'s token lifetime ${ring.tokenLifetime}: tokens signed by the old key could outlive it; nothing was changed`,
    );
  }
}

export async function startRollover(
  client: Client,
  config: Config,
  raw: RolloverInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RolloverInput.parse(raw);
  checkRolloverTtl(config, input.keyring, input.ttl);
  return startOnce(client, rolloverSigningKey, {
    workflowId: rolloverWorkflowId(input.keyring),
    args: [
      withRequester(
        config,
        'rolloverSigningKey',
        { ...raw, starterConfig: starterConfigOf(config, { kind: 'rollover', keyring: raw.keyring }) },
        [],
        opts.as,
        {
          workflowId: rolloverWorkflowId(input.keyring),
        },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a rollover of ${input.keyring}`,
    summary: `${input.dryRun ? 'plan: ' : ''}roll over keyring ${input.keyring}`,
  });
}

/** Refuses, before anything starts, a chain with an environment twice or a hop rekey cannot make. */
export function checkChain(config: Config, chain: string[]): void {
  requireKnown(config, chain);
  if (new Set(chain).size !== chain.length)
    throw new CliError(`an environment appears twice in ${chain.join(' -> ')}`);
  for (const [i, to] of chain.slice(1).entries()) {
    const problem = hopProblem(config, chain[i] as string, to);
    if (problem) throw new CliError(problem);
  }
}

export async function startPromotion(
  client: Client,
  config: Config,
  raw: PromoteInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = PromoteInput.parse(raw);
  checkChain(config, input.chain);
  return startOnce(client, promote, {
    workflowId: promoteWorkflowId(input.chain),
    args: [
      // A hop out of a gated environment is gated too: the source counts.
      withRequester(
        config,
        'promote',
        { ...raw, starterConfig: starterConfigOf(config, { kind: 'promote', chain: input.chain }) },
        input.chain,
        opts.as,
        {
          workflowId: promoteWorkflowId(input.chain),
        },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a promotion ${input.chain.join(' -> ')}`,
    summary: `${input.dryRun ? 'plan: ' : ''}promote data ${input.chain.join(' -> ')}`,
  });
}

/** Refuses, before anything starts, a secret or environment the config does not have for it. */
export function checkSecret(config: Config, secret: string, env: string): void {
  const recipe = config.secrets[secret];
  if (!recipe) {
    const known = Object.keys(config.secrets);
    const guess = closest(secret, known);
    throw new CliError(
      `unknown secret "${secret}"${guess ? `; did you mean "${guess}"?` : ''} (secrets: ${known.join(', ') || 'none in the config'})`,
    );
  }
  if (!recipe.environments.includes(env))
    throw new CliError(
      `secret ${secret} is not rotated in environment "${env}" (its environments: ${recipe.environments.join(', ')})`,
    );
}

export async function startSecretRotation(
  client: Client,
  config: Config,
  raw: RotateSecretInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RotateSecretInput.parse(raw);
  checkSecret(config, input.secret, input.environment);
  return startOnce(client, rotateSecret, {
    workflowId: secretWorkflowId(input.secret, input.environment),
    args: [
      withRequester(
        config,
        'rotateSecret',
        {
          ...raw,
          starterConfig: starterConfigOf(config, {
            kind: 'secret',
            secret: input.secret,
            environment: input.environment,
          }),
        },
        [input.environment],
        opts.as,
        {
          workflowId: secretWorkflowId(input.secret, input.environment),
        },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a rotation of secret ${input.secret} in ${input.environment}`,
    summary: `${input.dryRun ? 'plan: ' : ''}rotate secret ${input.secret} in ${input.environment}`,
  });
}

/** Starts the rotation of the codec's own key (a keyring in a store; see codec-key init). */
export async function startCodecKeyRotation(
  client: Client,
  config: Config,
  opts: { taskQueue?: string } = {},
) {
  const { store, secret } = codecKeyringOf(config);
  return startOnce(client, rotateCodecKey, {
    workflowId: codecKeyWorkflowId(store, secret),
    args: [{}],
    taskQueue: opts.taskQueue,
    what: `a rotation of codec keyring ${store}/${secret}`,
    summary: `rotate the payload codec key (keyring ${store}/${secret})`,
  });
}

export type { RotateResult };
