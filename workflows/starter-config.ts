// A run's first check, before its plan: the worker's rekey.yaml is the one its starter used, in
// what the run uses (activities/starter-config.ts). Runs recorded before replay without it.
import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { StarterConfigActivities } from '../activities/starter-config';
import type { RunKind } from '../config/run-config';
import { localRead, shortActivity } from './activity-options';
import { notifyOn } from './notify';

const acts = proxyActivities<StarterConfigActivities>(shortActivity);
/** Run by the worker that runs the workflow task: no round trip through the server. */
const reads = proxyLocalActivities<StarterConfigActivities>(localRead);

/** Also where the run learns which events to emit (workflows/notify.ts). */
export async function checkStarterConfig(
  run: RunKind,
  starter: Record<string, string> | undefined,
): Promise<void> {
  if (!patched('starter-config-checked')) return;
  // Results recorded before the check said which events (void) emit none.
  const checked = await acts.checkStarterConfig({ run, ...(starter ? { starter } : {}) });
  notifyOn(checked?.notify);
}

/** A hop's events: its gates (its promotion reports how it ended). Runs recorded before replay
 * without asking. */
export async function hopNotifications(from: string, to: string): Promise<void> {
  if (!patched('hop-notify-routing')) return;
  const routed = await reads.notifyRouting({ run: { kind: 'promote', chain: [from, to] } });
  notifyOn(routed?.notify, { runEvents: false });
}
