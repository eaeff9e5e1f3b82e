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
  type ScheduleSpec,
} from '@temporalio/client';
import { codecKeyringOf } from '../activities/codec-key';
import type { Config } from '../config/schema';
import { checkWindow, type RunWindow, windowText } from '../config/windows';
import { taskQueue } from '../shared/task-queue';
import {
  rolloverSigningKey,
  rotateCodecKey,
  rotateJwtKeys,
  rotateSecret,
  rotateSecrets,
  watchSecrets,
} from '../workflows';
import {
  type CodecKeyInput,
  codecKeyWorkflowId,
  type RolloverInput,
  type RotateInput,
  type RotateSecretInput,
  type RotateSecretsInput,
  rolloverWorkflowId,
  rotateWorkflowId,
  secretsWorkflowId,
  secretWorkflowId,
} from '../workflows/inputs';
import { expandToKeyGroups, type Requester, withRequester } from './runs/common';
import { RequestRefused } from './runs/errors';
import { checkRolloverTtl } from './runs/rollover';
import { checkSecret } from './runs/secret';

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
  day: { comment: 'daily', hour: 6, minute: 0 },
};

export const CATCHUP_WINDOW = '1 day';

/** A named cadence (06:00 UTC on the first day of the period), or every N days (`90d`: from
 * 06:00 UTC on days counted from 1970-01-01, so the dates do not drift). */
function cadence(every: string): ScheduleSpec {
  const calendar = CADENCES[every];
  if (calendar) return { calendars: [calendar] };
  const days = /^(\d+)d$/.exec(every)?.[1];
  if (days && Number(days) >= 1 && Number(days) <= 3660)
    return { intervals: [{ every: `${Number(days)}d`, offset: '6h' }] };
  throw new RequestRefused(
    `--every must be one of ${Object.keys(CADENCES).join(', ')} or a number of days (90d), not "${every}"`,
  );
}

/** The window a schedule's runs carry (checked here: a bad one is refused before the schedule). */
function windowed(opts: { window?: RunWindow }): { window?: RunWindow } {
  if (!opts.window) return {};
  const checked = checkWindow(opts.window);
  if ('problem' in checked) throw new RequestRefused(`--window: ${checked.problem}`);
  return checked;
}

async function createSchedule(
  client: Client,
  id: string,
  spec: ScheduleSpec,
  workflow:
    | typeof rotateJwtKeys
    | typeof rolloverSigningKey
    | typeof rotateCodecKey
    | typeof rotateSecret
    | typeof rotateSecrets
    | typeof watchSecrets,
  args: [RotateInput] | [RolloverInput] | [CodecKeyInput] | [RotateSecretInput] | [RotateSecretsInput] | [],
  opts: { summary: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  try {
    return await client.schedule.create({
      scheduleId: id,
      spec,
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
      throw new RequestRefused(`schedule ${id} already exists; see rekey schedule describe ${id}`);
    }
    throw err;
  }
}

export async function createRotationSchedule(
  client: Client,
  config: Config,
  opts: { environments: string[]; every: string; as?: Requester; taskQueue?: string; window?: RunWindow },
): Promise<ScheduleHandle> {
  const spec = cadence(opts.every);
  const environments = expandToKeyGroups(config, opts.environments);
  const id = rotateWorkflowId(environments);
  // Each scheduled run carries the request of whoever made the schedule (--as), signed once here.
  const input = withRequester(
    config,
    'rotateJwtKeys',
    { environments, ...windowed(opts) },
    environments,
    opts.as,
    {
      schedule: id,
    },
  );
  return createSchedule(client, id, spec, rotateJwtKeys, [input], {
    summary: `scheduled: rotate ${environments.join('+')} JWT keys every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

export async function createRolloverSchedule(
  client: Client,
  config: Config,
  opts: { keyring: string; every: string; taskQueue?: string; window?: RunWindow },
): Promise<ScheduleHandle> {
  const spec = cadence(opts.every);
  checkRolloverTtl(config, opts.keyring);
  const id = rolloverWorkflowId(opts.keyring);
  // A rollover runs as long as its TTL wait; a run due meanwhile is skipped.
  return createSchedule(
    client,
    id,
    spec,
    rolloverSigningKey,
    [{ keyring: opts.keyring, ...windowed(opts) }],
    {
      summary: `scheduled: roll over keyring ${opts.keyring} every ${opts.every}`,
      taskQueue: opts.taskQueue,
    },
  );
}

export async function createCodecKeySchedule(
  client: Client,
  config: Config,
  opts: { every: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  const spec = cadence(opts.every);
  const { store, secret } = codecKeyringOf(config);
  return createSchedule(client, codecKeyWorkflowId(store, secret), spec, rotateCodecKey, [{}], {
    summary: `scheduled: rotate the payload codec key (keyring ${store}/${secret}) every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

/** The daily secret watch (workflows/watch-secrets.ts): changes nothing, so no --yes. */
export async function createSecretWatchSchedule(
  client: Client,
  config: Config,
  opts: { every: string; taskQueue?: string },
): Promise<ScheduleHandle> {
  const spec = cadence(opts.every);
  if (!config.notify)
    throw new RequestRefused(
      'the secret watch announces through notify:, and rekey.yaml has none (docs/notifications.md)',
    );
  if (!Object.keys(config.secrets).length)
    throw new RequestRefused('the secret watch reads secret recipes, and rekey.yaml has none (secrets:)');
  return createSchedule(client, 'secret-watch', spec, watchSecrets, [], {
    summary: `scheduled: announce secrets due within ${config.notify.dueWithin} or overdue, ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

export async function createSecretSchedule(
  client: Client,
  config: Config,
  opts: {
    secret: string;
    environment: string;
    every: string;
    as?: Requester;
    taskQueue?: string;
    window?: RunWindow;
  },
): Promise<ScheduleHandle> {
  const spec = cadence(opts.every);
  checkSecret(config, opts.secret, opts.environment);
  const id = secretWorkflowId(opts.secret, opts.environment);
  const input = withRequester(
    config,
    'rotateSecret',
    { secret: opts.secret, environment: opts.environment, ...windowed(opts) },
    [opts.environment],
    opts.as,
    { schedule: id },
  );
  return createSchedule(client, id, spec, rotateSecret, [input], {
    summary: `scheduled: rotate secret ${opts.secret} in ${opts.environment} every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

/** Every day (or PERIOD), a run over the secrets of `environment` that are due then. */
export async function createSecretsDueSchedule(
  client: Client,
  config: Config,
  opts: { environment: string; every: string; as?: Requester; taskQueue?: string; window?: RunWindow },
): Promise<ScheduleHandle> {
  const spec = cadence(opts.every);
  const id = secretsWorkflowId(opts.environment);
  const input = withRequester(
    config,
    'rotateSecrets',
    { environment: opts.environment, select: 'due' as const, ...windowed(opts) },
    [opts.environment],
    opts.as,
    { schedule: id },
  );
  return createSchedule(client, id, spec, rotateSecrets, [input], {
    summary: `scheduled: rotate the secrets due in ${opts.environment} every ${opts.every}`,
    taskQueue: opts.taskQueue,
  });
}

/** The window its runs carry, if any. */
function windowOf(d: ScheduleDescription): RunWindow | undefined {
  const input =
    d.action.type === 'startWorkflow' ? (d.action.args?.[0] as { window?: RunWindow }) : undefined;
  return input?.window;
}

/** A schedule as a script reads it (rekey schedule describe --json: schemas/schedule.schema.json). */
export function scheduleDoc(d: ScheduleDescription): Record<string, unknown> {
  const cal = d.spec.calendars?.[0];
  const interval = d.spec.intervals?.[0];
  const last = d.info.recentActions.at(-1);
  return {
    scheduleId: d.scheduleId,
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    workflowType: d.action.type === 'startWorkflow' ? d.action.workflowType : d.action.type,
    every: cal?.comment ?? (interval ? `${Math.round(Number(interval.every) / 86_400_000)}d` : 'custom'),
    overlap: d.policies.overlap,
    ...(windowOf(d) ? { window: windowOf(d) } : {}),
    catchupWindowHours: d.policies.catchupWindow / 3600_000,
    next: d.info.nextActionTimes.map((t) => t.toISOString()),
    runsStarted: d.info.numActionsTaken,
    runsSkipped: d.info.numActionsSkippedOverlap,
    ...(last
      ? { last: { at: last.takenAt.toISOString(), workflowId: last.action.workflow.workflowId } }
      : {}),
  };
}

export function formatSchedule(d: ScheduleDescription): string {
  const cal = d.spec.calendars?.[0];
  const interval = d.spec.intervals?.[0];
  const lines = [
    `${d.scheduleId}: ${d.state.paused ? `paused${d.state.note ? ` (${d.state.note})` : ''}` : 'active'}`,
    `  every: ${cal?.comment ?? (interval ? `${Math.round(Number(interval.every) / 86_400_000)} days` : JSON.stringify(d.spec))}; overlap ${d.policies.overlap}, catch-up window ${d.policies.catchupWindow / 3600_000}h`,
    `  next: ${
      d.info.nextActionTimes
        .slice(0, 2)
        .map((t) => t.toISOString())
        .join(', ') || 'none'
    }`,
    `  runs: ${d.info.numActionsTaken} started, ${d.info.numActionsSkippedOverlap} skipped (still running)`,
  ];
  const window = windowOf(d);
  if (window)
    lines.push(
      `  window: ${windowText(window)}; outside it a run ${window.outside === 'skip' ? 'is skipped' : 'waits'}`,
    );
  const last = d.info.recentActions.at(-1);
  if (last) lines.push(`  last: ${last.takenAt.toISOString()} ${last.action.workflow.workflowId}`);
  return lines.join('\n');
}
