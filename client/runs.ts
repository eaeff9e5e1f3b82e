// The small library behind the CLI: start, signal, query and await rekey workflow runs.
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { hopProblem } from '../activities/promotion';
import { parseDuration } from '../config/duration';
import type { Config } from '../config/schema';
import { keyGroupMembers } from '../config/summary';
import type { Progress } from '../workflows/gates';
import {
  PromoteInput,
  promoteWorkflowId,
  RolloverInput,
  RotateInput,
  rolloverWorkflowId,
  rotateWorkflowId,
  TASK_QUEUE,
} from '../workflows/inputs';
import type { RotateResult } from '../workflows/rotate';
import { connectConfig } from './connection';

export class RunRefused extends Error {}

export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const { connectionOptions, namespace } = connectConfig();
  const connection = await Connection.connect(connectionOptions);
  try {
    return await fn(new Client({ connection, namespace }));
  } finally {
    await connection.close();
  }
}

/** Refuses environments the config doesn't define, naming them and the configured ones. */
function requireKnown(config: Config, environments: string[]): void {
  const unknown = environments.filter((e) => !(e in config.environments));
  if (unknown.length > 0) {
    throw new RunRefused(
      `unknown environment ${unknown.map((e) => `"${e}"`).join(', ')}; configured: ${Object.keys(config.environments).join(', ')}`,
    );
  }
}

/** The requested environments plus every environment sharing a key group with one of them. */
export function expandToKeyGroups(config: Config, environments: string[]): string[] {
  requireKnown(config, environments);
  return keyGroupMembers(config, environments);
}

export async function startRotation(
  client: Client,
  config: Config,
  raw: RotateInput,
  taskQueue = process.env.REKEY_TASK_QUEUE ?? TASK_QUEUE,
) {
  const input = RotateInput.parse(raw);
  const environments = expandToKeyGroups(config, input.environments);
  return startOnce(
    client,
    'rotateJwtKeys',
    rotateWorkflowId(environments),
    { ...input, environments },
    taskQueue,
    `a rotation of ${environments.join(', ')}`,
  );
}

/** Starts a run unless one with the same intent (workflow id) is already running. */
async function startOnce(
  client: Client,
  workflowType: string,
  workflowId: string,
  input: unknown,
  taskQueue: string,
  what: string,
) {
  try {
    return await client.workflow.start(workflowType, { taskQueue, workflowId, args: [input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new RunRefused(`${what} is already running (${workflowId}); see rekey status ${workflowId}`);
    }
    throw err;
  }
}

export async function progressOf(client: Client, workflowId: string): Promise<Progress> {
  return client.workflow.getHandle(workflowId).query<Progress>('progress');
}

/**
 * Signals the gate of `workflowId`, or of the child it is waiting on (a promotion's hop) when
 * that child holds the pending gate. Returns the id of the workflow signalled.
 */
export async function signalGate(
  client: Client,
  workflowId: string,
  signal: 'approve' | 'reject',
  by: string,
  comment?: string,
): Promise<string> {
  const { status } = await client.workflow.getHandle(workflowId).describe();
  if (status.name !== 'RUNNING')
    throw new RunRefused(`${workflowId} is not waiting for an approval: it is ${status.name.toLowerCase()}`);
  const progress = await progressOf(client, workflowId);
  let target = workflowId;
  if (!progress.pendingGate) {
    const child = progress.childWorkflowId
      ? await progressOf(client, progress.childWorkflowId).catch(() => undefined)
      : undefined;
    if (!child?.pendingGate || !progress.childWorkflowId)
      throw new RunRefused(`${workflowId} is not waiting for an approval (see rekey status ${workflowId})`);
    target = progress.childWorkflowId;
  }
  await client.workflow.getHandle(target).signal(signal, { by, ...(comment ? { comment } : {}) });
  return target;
}

/** Refuses, before anything starts, a wait shorter than the keyring's longest token lifetime. */
export function checkRolloverTtl(config: Config, keyring: string, ttl?: string): void {
  const ring = config.keyrings[keyring];
  if (!ring) {
    throw new RunRefused(
      `unknown keyring "${keyring}"; configured: ${Object.keys(config.keyrings).join(', ') || 'none'}`,
    );
  }
  if (ttl === undefined) return;
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch (err) {
    throw new RunRefused(`--ttl: ${(err as Error).message}`);
  }
  if (ms < parseDuration(ring.tokenLifetime)) {
    throw new RunRefused(
      `--ttl ${ttl} is shorter than keyring ${keyring}'s token lifetime ${ring.tokenLifetime}: tokens signed by the old key could outlive it; nothing was changed`,
    );
  }
}

export async function startRollover(
  client: Client,
  config: Config,
  raw: RolloverInput,
  taskQueue = process.env.REKEY_TASK_QUEUE ?? TASK_QUEUE,
) {
  const input = RolloverInput.parse(raw);
  checkRolloverTtl(config, input.keyring, input.ttl);
  return startOnce(
    client,
    'rolloverSigningKey',
    rolloverWorkflowId(input.keyring),
    input,
    taskQueue,
    `a rollover of ${input.keyring}`,
  );
}

/** Refuses, before anything starts, a chain with an environment twice or a hop rekey cannot make. */
export function checkChain(config: Config, chain: string[]): void {
  requireKnown(config, chain);
  if (new Set(chain).size !== chain.length)
    throw new RunRefused(`an environment appears twice in ${chain.join(' -> ')}`);
  for (const [i, to] of chain.slice(1).entries()) {
    const problem = hopProblem(config, chain[i] as string, to);
    if (problem) throw new RunRefused(problem);
  }
}

export async function startPromotion(
  client: Client,
  config: Config,
  raw: PromoteInput,
  taskQueue = process.env.REKEY_TASK_QUEUE ?? TASK_QUEUE,
) {
  const input = PromoteInput.parse(raw);
  checkChain(config, input.chain);
  return startOnce(
    client,
    'promote',
    promoteWorkflowId(input.chain),
    input,
    taskQueue,
    `a promotion ${input.chain.join(' -> ')}`,
  );
}

export type { RotateResult };
