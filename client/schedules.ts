// Temporal Schedules for recurring rotations: `rekey schedule create rotate-jwt --env prod
// --every quarter`. A run that is still going when the next one is due is skipped, and a missed
// run (server down) is caught up within a day.
import {
  type CalendarSpec,
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleDescription,
  type ScheduleHandle,
  ScheduleOverlapPolicy,
} from '@temporalio/client';
import { codecKeyringOf } from '../activities/library';
import type { Config } from '../config/schema';
import { taskQueue } from '../shared/task-queue';
import { rolloverSigningKey, rotateCodecKey, rotateJwtKeys } from '../workflows';
import {
  type CodecKeyInput,
  codecKeyWorkflowId,
  type RolloverInput,
  type RotateInput,
  rolloverWorkflowId,
  rotateWorkflowId,
} from '../workflows/inputs';
import { CliError } from './cli-error';
import { checkRolloverTtl, expandToKeyGroups, type Requester, withRequester } from './runs';

/** 06:00 UTC on the first day of the period: early, before the working day in most of Europe. */
export const CADENCES: Record<string, CalendarSpec> = {
  quarter: {
    comment: 'quarterly',
    month: ['JANUARY', 'APRIL', 'JULY', 'OCTOBER'],
    dayOfMonth: 1,
    hour: 6,
    minute: 0,
  },
  month: { comment: 'monthly', dayOfMonth: 1, hour: 6, minute: 0 },
  week: { comment: 'weekly', dayOfWeek: 'MONDAY', hour: 6, minute: 0 },
};

export const CATCHUP_WINDOW = '1 day';

function cadence(every: string): CalendarSpec {
  const calendar = CADENCES[every];
  if (!calendar)
    throw new CliError(`--every must be one of ${Object.keys(CADENCES).join(', ')}, not "${every}"`);
  return calendar;
}

async function createSchedule(
  client: Client,
  id: string,
  calendar: CalendarSpec,
  workflow: typeof rotateJwtKeys | typeof rolloverSigningKey | typeof rotateCodecKey,
  args: [RotateInput] | [RolloverInput] | [CodecKeyInput],
  opts: { summary: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  try {
    return await client.schedule.create({
      scheduleId: id,
      spec: { calendars: [calendar] },
      action: {
        type: 'startWorkflow',
        workflowType: workflow,
        workflowId: id,
        taskQueue: taskQueue(opts.taskQueue),
        args,
        staticSummary: opts.summary,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new CliError(`schedule ${id} already exists; see rekey schedule describe ${id}`);
    }
    throw err;
  }
}

export async function createRotationSchedule(
  client: Client,
  config: Config,
  opts: { environments: string[]; every: string; as?: Requester; taskQueue?: string },
): Promise<ScheduleHandle> {
  const calendar = cadence(opts.every);
  const environments = expandToKeyGroups(config, opts.environments);
  const id = rotateWorkflowId(environments);
  // Each scheduled run carries the request of whoever made the schedule (--as), signed once here.
  const input = withRequester(config, 'rotateJwtKeys', { environments }, environments, opts.as, {
    schedule: id,
  });
  return createSchedule(client, id, calendar, rotateJwtKeys, [input], {
    summary: `scheduled: rotate ${environments.join('+')} JWT keys every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

export async function createRolloverSchedule(
  client: Client,
  config: Config,
  opts: { keyring: string; every: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  const calendar = cadence(opts.every);
  checkRolloverTtl(config, opts.keyring);
  const id = rolloverWorkflowId(opts.keyring);
  // A rollover runs as long as its TTL wait; a run due meanwhile is skipped.
  return createSchedule(client, id, calendar, rolloverSigningKey, [{ keyring: opts.keyring }], {
    summary: `scheduled: roll over keyring ${opts.keyring} every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

export async function createCodecKeySchedule(
  client: Client,
  config: Config,
  opts: { every: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  const calendar = cadence(opts.every);
  const { store, secret } = codecKeyringOf(config);
  return createSchedule(client, codecKeyWorkflowId(store, secret), calendar, rotateCodecKey, [{}], {
    summary: `scheduled: rotate the payload codec key (keyring ${store}/${secret}) every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

export function formatSchedule(d: ScheduleDescription): string {
  const cal = d.spec.calendars?.[0];
  const lines = [
    `${d.scheduleId}: ${d.state.paused ? `paused${d.state.note ? ` (${d.state.note})` : ''}` : 'active'}`,
    `  every: ${cal?.comment ?? JSON.stringify(d.spec)}; overlap ${d.policies.overlap}, catch-up window ${d.policies.catchupWindow / 3600_000}h`,
    `  next: ${
      d.info.nextActionTimes
        .slice(0, 2)
        .map((t) => t.toISOString())
        .join(', ') || 'none'
    }`,
    `  runs: ${d.info.numActionsTaken} started, ${d.info.numActionsSkippedOverlap} skipped (still running)`,
  ];
  const last = d.info.recentActions.at(-1);
  if (last) lines.push(`  last: ${last.takenAt.toISOString()} ${last.action.workflow.workflowId}`);
  return lines.join('\n');
}
