// The rotation's activities, as each kind of step calls them (workflows/rotate.ts and
// workflows/rotate-steps.ts share them).
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { RotateActivities } from '../activities/rotate';
import { serviceActivity, shortActivity, summarized, vaultActivity } from './activity-options';

// Store and host reads/writes of the plan, stage and verify.
export const rotation = proxyActivities<RotateActivities>(vaultActivity);
// Per-environment steps, named in the history for the Web UI.
export const onEnv = summarized<RotateActivities>(shortActivity);
// Restarts with publish and marker waits, and the roll-back that includes one.
export const onService = summarized<RotateActivities>(serviceActivity);
// A cancelled run waits for a store write, a host change or a restart in flight to end before it
// puts things back: the undo must not race them.
export const settled = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
export const onEnvSettled = summarized<RotateActivities>({ ...shortActivity, ...settled });
export const onServiceSettled = summarized<RotateActivities>({ ...serviceActivity, ...settled });
export const staging = proxyActivities<RotateActivities>({ ...vaultActivity, ...settled });
