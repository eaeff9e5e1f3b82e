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
import type { Config } from '../config/schema';
import {
  RolloverInput,
  RotateInput,
  rolloverWorkflowId,
  rotateWorkflowId,
  TASK_QUEUE,
} from '../workflows/inputs';
import { checkRolloverTtl, expandToKeyGroups, RunRefused } from './runs';

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
    throw new RunRefused(`--every must be one of ${Object.keys(CADENCES).join(', ')}, not "${every}"`);
  return calendar;
}

async function createSchedule(
  client: Client,
  id: string,
  calendar: CalendarSpec,
  workflowType: string,
  args: unknown[],
  taskQueue?: string,
): Promise<ScheduleHandle> {
  try {
    return await client.schedule.create({
      scheduleId: id,
      spec: { calendars: [calendar] },
      action: {
        type: 'startWorkflow',
        workflowType,
        workflowId: id,
        taskQueue: taskQueue ?? process.env.REKEY_TASK_QUEUE ?? TASK_QUEUE,
        args,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new RunRefused(`schedule ${id} already exists; see rekey schedule describe ${id}`);
    }
    throw err;
  }
}

export async function createRotationSchedule(
  client: Client,
  config: Config,
  opts: { environments: string[]; every: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  const calendar = cadence(opts.every);
  const environments = expandToKeyGroups(config, opts.environments);
  const id = rotateWorkflowId(environments);
  const args = [RotateInput.parse({ environments })];
  return createSchedule(client, id, calendar, 'rotateJwtKeys', args, opts.taskQueue);
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
  const args = [RolloverInput.parse({ keyring: opts.keyring })];
  return createSchedule(client, id, calendar, 'rolloverSigningKey', args, opts.taskQueue);
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
