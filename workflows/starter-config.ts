// A run's first check, before its plan: the worker's rekey.yaml is the one its starter used, in
// what the run uses (activities/starter-config.ts). Runs recorded before replay without it.
import { patched, proxyActivities } from '@temporalio/workflow';
import type { StarterConfigActivities } from '../activities/starter-config';
import type { RunKind } from '../config/run-config';
import { shortActivity } from './activity-options';

const acts = proxyActivities<StarterConfigActivities>(shortActivity);

export async function checkStarterConfig(
  run: RunKind,
  starter: Record<string, string> | undefined,
): Promise<void> {
  if (!patched('starter-config-checked')) return;
  await acts.checkStarterConfig({ run, ...(starter ? { starter } : {}) });
}
