// A changing activity runs only for a run that holds the locks on what it changes (see
// workflows/environment-lock.ts). A lock is a workflow anyone with write on the namespace can
// terminate; its holder learns of that here, before its next change, and not after a second run
// has taken the environment too. It also refuses, for environments no approval guards, a workflow
// of someone else's that schedules rekey's activities without taking rekey's locks.
import type { WorkflowClient } from '@temporalio/client';
import type { SchedulingRun } from '../activities/scheduling-run';
import { isHeldBy } from '../shared/lock-holder';
import { unlessNotFound } from '../shared/not-found';
import { SELF_HELD } from '../shared/workflow-types';
import { lockWorkflowIds } from '../workflows/inputs';

type Input = Record<string, unknown>;
const envLocks = (envs: string[]) => envs.map((e) => `env/${e}`);
const secretLock = (i: Input) => `secret/${String(i.secret)}/${String(i.env)}`;
const keyringLock = (i: Input) => `keyring/${String(i.keyring)}`;
const batchLocks = (i: Input) =>
  (Array.isArray(i.secrets) ? i.secrets : []).map((s: Input) => secretLock({ secret: s.secret, env: i.env }));

/** The locks a changing activity's run holds, from its input (default: its environments'). */
export const LOCKS: Record<string, (input: Input, changes: string[]) => string[]> = {
  writeSecretLocation: (i) => [secretLock(i)],
  awaitSuppliedValue: (i) => [secretLock(i)],
  restoreSecretLocation: (i) => [secretLock(i)],
  revokeOldSecret: (i) => [secretLock(i)],
  restartConsumers: (i, envs) => [secretLock(i), ...envLocks(envs)],
  // A run over an environment's secrets: each one's lock (held as `secrets/E`: see lockProblem).
  writeSecretBatch: (i) => batchLocks(i),
  restartSecretsConsumers: (i, envs) => [...batchLocks(i), ...envLocks(envs)],
  addKey: (i) => [keyringLock(i)],
  activate: (i) => [keyringLock(i)],
  removeKey: (i) => [keyringLock(i)],
  // The environments the run locked when it planned (months before, maybe: the config may have
  // changed since); runs recorded before roll-outs took them send none.
  rollOut: (i) => [
    keyringLock(i),
    ...envLocks(Array.isArray(i.environments) ? i.environments.map(String) : []),
  ],
};
export const locksOf = (activity: string, input: Input, changes: string[]) =>
  (LOCKS[activity] ?? ((_i, envs) => envLocks(envs)))(input, changes);

/** What `run` holds for `resource`: a run over an environment's secrets holds each of them by
 * holding `secrets/E` (a secret's own rotation refuses to start while that is held, and the run
 * over them refused to start while any of theirs was going: workflows/environment-lock.ts). */
const heldAs = (resource: string, workflowType: string) => {
  const [kind, , env] = resource.split('/');
  return workflowType === 'rotateSecrets' && kind === 'secret' ? `secrets/${env}` : resource;
};

/** Why the run `run` does not hold every lock in `resources`, or undefined when it does. */
export async function lockProblem(
  workflows: WorkflowClient,
  resources: string[],
  run: SchedulingRun,
): Promise<string | undefined> {
  for (const resource of [...new Set(resources.map((r) => heldAs(r, run.workflowType)))]) {
    const ids = lockWorkflowIds(resource);
    // Held by being: a run under the lock's own business id (the server runs one workflow per
    // id). Any other run under a lock's id holds nothing.
    const prefix = SELF_HELD[run.workflowType];
    if (prefix && run.workflowId === ids[0] && run.workflowId.startsWith(prefix)) continue;
    let held = false;
    for (const id of ids) {
      // The server unreachable: the activity retries.
      const lock = await unlessNotFound(workflows.getHandle(id).describe());
      held ||= !!lock && isHeldBy(lock, run);
    }
    if (!held)
      return `${run.workflowId} does not hold the lock on ${resource.replace('/', ' ')} (workflow ${ids.at(-1)}): it was ended (terminated?) while the run went on, or the run never took it. Another run may be changing it now: see rekey status before starting again`;
  }
  return undefined;
}
