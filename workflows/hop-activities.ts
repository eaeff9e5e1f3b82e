// A hop's activities, as each kind of its steps calls them (workflows/promote-hop.ts).
import { ActivityCancellationType, type ActivityOptions, proxyActivities } from '@temporalio/workflow';
import type { PromoteHopActivities } from '../activities/promote-hop';
import type { RotateActivities } from '../activities/rotate';
import { serviceActivity, shortActivity, summarized } from './activity-options';

/** Reads and writes of seconds: the promotion's gate rules, the token re-sign. */
export const promotion = proxyActivities<PromoteHopActivities>(shortActivity);
// Work on a data dir (du, dry run, snapshot, restore) takes as long as the dir is large; it
// heartbeats, so a lost worker is noticed within seconds all the same.
const dataDirWork: ActivityOptions = { ...serviceActivity, startToCloseTimeout: '1h' };
export const onDataDir = summarized<PromoteHopActivities>(dataDirWork);
// What stops a service or writes a data dir, when the run is cancelled meanwhile, is waited for
// until it has ended: the undo (start again, restore) must not race a stop or copy still running.
const settled = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
export const changingDataDir = summarized<PromoteHopActivities>({ ...dataDirWork, ...settled });
// A copy may take hours.
const copyWork: ActivityOptions = { ...serviceActivity, startToCloseTimeout: '6h' };
export const copying = summarized<PromoteHopActivities>(copyWork);
export const settledCopying = summarized<PromoteHopActivities>({ ...copyWork, ...settled });
export const settledPromotion = proxyActivities<PromoteHopActivities>({ ...shortActivity, ...settled });
export const settledService = summarized<RotateActivities>({ ...serviceActivity, ...settled });
export const onService = summarized<RotateActivities>(serviceActivity);
