// A run's first check, before its plan: the worker's rekey.yaml is the one its starter used, in
// what the run uses (activities/starter-config.ts). Runs recorded before replay without it.
import { patched, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { StarterConfigActivities } from '../activities/starter-config';
import { frozenText } from '../config/freezes';
import type { RunKind } from '../config/run-config';
import { FailureType, fail } from '../shared/failures';
import { localRead, shortActivity } from './activity-options';
import { freezeOverridden, notifyOn } from './notify';
import type { ProgressTracker } from './progress';
import { startingSchedule } from './scheduled';

const acts = proxyActivities<StarterConfigActivities>(shortActivity);
/** Run by the worker that runs the workflow task: no round trip through the server. */
const reads = proxyLocalActivities<StarterConfigActivities>(localRead);

/**
 * Also where the run learns which events to emit (workflows/notify.ts) and whether a freeze holds
 * its environments (config/freezes.ts): then a run its starter started refuses, unless the starter
 * overrode the freeze (recorded in its steps and its events); a run a schedule started waits,
 * durably, until the freeze ends, and looks again.
 */
export async function checkStarterConfig(
  run: RunKind,
  starter: Record<string, string> | undefined,
  opts: { overrideFreeze?: string; dryRun?: boolean; tracker?: ProgressTracker } = {},
): Promise<void> {
  if (!patched('starter-config-checked')) return;
  // Results recorded before the check said which events (void) emit none.
  let checked = await acts.checkStarterConfig({ run, ...(starter ? { starter } : {}) });
  notifyOn(checked?.notify);
  // A dry run changes nothing: a freeze does not hold it.
  while (checked?.frozen && !opts.dryRun) {
    const f = checked.frozen;
    const what = `freeze ${f.name} until ${f.until} (${f.reason})`;
    if (opts.overrideFreeze) {
      opts.tracker?.set('freeze', 'done', `${what} overridden: ${opts.overrideFreeze}`);
      freezeOverridden(`${what}: ${opts.overrideFreeze}`);
      return;
    }
    if (!startingSchedule()) throw fail(FailureType.BadInput, frozenText(f));
    opts.tracker?.set('freeze', 'running', `scheduled run waiting for the end of ${what}`);
    // At least hourly: a freeze ended early (rekey.yaml edited, the worker restarted) lets it go.
    await sleep(Math.min(3600_000, Math.max(1000, Date.parse(f.until) - Date.now())));
    checked = await acts.checkStarterConfig({ run, ...(starter ? { starter } : {}) });
    if (!checked?.frozen) opts.tracker?.set('freeze', 'done', `waited for the end of ${what}`);
  }
}

/** A hop's events: its gates (its promotion reports how it ended). Runs recorded before replay
 * without asking. */
export async function hopNotifications(from: string, to: string): Promise<void> {
  if (!patched('hop-notify-routing')) return;
  const routed = await reads.notifyRouting({ run: { kind: 'promote', chain: [from, to] } });
  notifyOn(routed?.notify, { runEvents: false });
}

/**
 * Refuses (nothing changed) a run whose starter announced a gate the worker's config does not have,
 * or the other way round: the worker reads rekey.yaml only at start. `starterSays` and
 * `workerSays` name what each config gates ("prod, test", "keyring api").
 */
export function checkExpectedGate(
  expected: boolean | undefined,
  gated: boolean,
  starterSays: string,
  workerSays: string,
): void {
  if (expected === undefined || expected === gated) return;
  throw fail(
    FailureType.BadInput,
    expected
      ? `the starter's config requires an approval for ${starterSays}, the worker's does not: the worker reads rekey.yaml only at start (restart it after editing), or another worker with another config polls this task queue; nothing was changed`
      : `the worker's config requires an approval for ${workerSays}, the starter's does not: restart the worker after editing rekey.yaml, or use the same config for both; nothing was changed`,
  );
}
