// Starting, following, cancelling and reading rekey runs: what every workflow's start shares, always
// through the definitions in workflows/ (workflow functions, messages), never by string names.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  Client,
  Connection,
  type Workflow,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
  type WorkflowResultType,
} from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { gatePolicy } from '../../config/approvals';
import { keyGroupMembers } from '../../config/key-groups';
import type { Config } from '../../config/schema';
import { lockHolderOf } from '../../shared/lock-holder';
import { unlessNotFound } from '../../shared/not-found';
import { taskQueue } from '../../shared/task-queue';
import type { TransferProgress } from '../../shared/transfer';
import { dataConverterOf } from '../../temporal/codec-keys';
import { connectConfig } from '../../temporal/connection';
import type {
  promote,
  rolloverSigningKey,
  rotateCodecKey,
  rotateJwtKeys,
  rotateSecret,
  rotateSecrets,
} from '../../workflows';
import { errorText } from '../../workflows/errors';
import type { PendingGate, Progress } from '../../workflows/messages';
import { progressQuery } from '../../workflows/messages';
import { requestMessage } from '../../workflows/requests';
import { signAs } from '../sign';
import { RequestRefused, TemporalUnreachable } from './errors';

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
    throw new TemporalUnreachable(
      `cannot reach the Temporal server at ${address} (${errorText(err)}): set TEMPORAL_ADDRESS=host:port or a temporal.toml profile (TEMPORAL_PROFILE), or start one (rekey quickstart --keep, temporal server start-dev)`,
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
export async function requireWorker(client: Client, address: string): Promise<void> {
  const queue = taskQueue();
  const { pollers } = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: queue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  if (!pollers?.length)
    throw new RequestRefused(
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
  opts: { everyMs?: number; quiet?: boolean } = {},
): Promise<WorkflowResultType<W>> {
  const { everyMs = 2000, quiet = false } = opts;
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
  // --json: nothing but the final document on stdout.
  const timer = quiet ? undefined : setInterval(() => void say(), everyMs);
  try {
    return await handle.result();
  } finally {
    clearInterval(timer);
  }
}
/** Refuses environments the config doesn't define, naming them and the configured ones. */
export function requireKnown(config: Config, environments: string[]): void {
  const unknown = environments.filter((e) => !(e in config.environments));
  if (unknown.length > 0) {
    throw new RequestRefused(
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
      throw new RequestRefused(
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
    throw new RequestRefused(
      `${as.name} has no SSH key in the config, so cannot sign the request for ${separate.join(', ')}`,
    );
  return { ...input, requestedBy: { name: as.name, ...(signature ? { signature, ...bound } : {}) } };
}
/** The run an id names: a run under another id may hold a secret's CLI id as its lock (an
 * `environmentLock` naming it); status, cancel and decisions then go to that run, never to the
 * lock. A released lock's last holder is shown (`read`), but not acted on: the run under that id
 * now may be another. Said on stderr: stdout may be a `--json` document. */
export async function runBehind(client: Client, id: string, use: 'read' | 'act'): Promise<string> {
  const lock = await heldBy(client, id);
  if (lock === undefined) return id;
  if (!lock.holder) throw new RequestRefused(`${id} is a lock, not a run, and names no holder`);
  if (use === 'act') {
    const taker = `${lock.holder}, run ${lock.holderRunId}`;
    if (!lock.held)
      throw new RequestRefused(
        `${id} is a lock, released: its last holder (${taker}) holds it no more; name a run by its own id`,
      );
    // The very run the lock names, still going: not a later run under the same id.
    const current = await unlessNotFound(client.workflow.getHandle(lock.holder).describe());
    if (current?.runId !== lock.holderRunId || current.status.name !== 'RUNNING')
      throw new RequestRefused(`${id} is a lock whose holder (${taker}) has ended; name a run by its own id`);
  }
  console.error(
    lock.held
      ? `${id} is held as a lock by ${lock.holder}: ${use === 'read' ? 'showing' : 'acting on'} it`
      : `${id} is a lock, released, last held by ${lock.holder}: showing it`,
  );
  return lock.holder;
}
/** For an id that is a lock: the run it names ('' if none) and whether it still holds it;
 * undefined for anything else. */
export async function heldBy(
  client: Client,
  id: string,
): Promise<{ holder: string; holderRunId: string; held: boolean } | undefined> {
  const d = await client.workflow
    .getHandle(id)
    .describe()
    .catch(() => undefined);
  if (d?.type !== 'environmentLock') return undefined;
  const named = lockHolderOf(d);
  return {
    holder: named?.workflowId ?? '',
    holderRunId: named?.runId ?? '',
    held: d.status.name === 'RUNNING',
  };
}
/** Starts a run unless one with the same intent (workflow id) is already running. */
export async function startOnce<
  W extends
    | typeof rotateJwtKeys
    | typeof promote
    | typeof rolloverSigningKey
    | typeof rotateCodecKey
    | typeof rotateSecret
    | typeof rotateSecrets,
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
      const id = (await heldBy(client, workflowId))?.holder || workflowId;
      throw new RequestRefused(`${what} is already running (${id}); see rekey status ${id}`);
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

/** The command that decides a gate, with the digest of the plan it shows: off a terminal
 * `approve` needs it, and it names the plan the approver read. */
export function decideHint(workflowId: string, gate: PendingGate): string {
  const verb = gate.kind === 'expedite' ? 'expedite' : 'approve';
  return `rekey ${verb} ${workflowId} --by NAME${gate.digest ? ` --digest ${gate.digest.slice(0, 23)}` : ''} [--key FILE]`;
}
