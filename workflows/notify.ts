// A run's events (shared/notify-events.ts), emitted durably: each is a child workflow
// (`notify/<event id>`, abandoned when the run closes) that hands the event to every sink its
// routes name, each sink an activity retried with backoff for hours. The run only waits for the
// child to start, never for a delivery: a sink that is down neither fails nor delays it.
//
// A run emits only when its worker's config routes some event for its environments: the first
// check of the run (checkStarterConfig) says which (`notifyOn`). Runs recorded before, and runs of
// a config without notify:, emit nothing and start no child.
//
// State below is per run: the SDK evaluates the workflow modules for each run.
import {
  CancellationScope,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  uuid4,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import type { NotifyActivities } from '../activities/notify';
import { FailureType, fail } from '../shared/failures';
import type { EventType, NotifyRouting, RekeyEvent } from '../shared/notify-events';
import { shortActivity } from './activity-options';
import { errorText } from './errors';
import type { ProgressTracker } from './progress';
import { startingSchedule } from './scheduled';

interface RunNotices {
  routing: NotifyRouting;
  /** A hop's outcome is its promotion's to report: it emits its gates only. */
  runEvents: boolean;
  emitted: number;
  starts: Promise<void>[];
}

let notices: RunNotices | undefined;
let tracker: ProgressTracker | undefined;
let override: string | undefined;
let skipped: string | undefined;

/** The run goes ahead through a freeze: every event from here on says so. */
export function freezeOverridden(text: string): void {
  override = text;
}

/** The run was skipped (outside its window, planned as a dry run): its outcome is that. */
export function runSkipped(text: string): void {
  skipped = text;
}

/** The run's progress, for the title and the steps its events carry (progress.ts calls it). */
export function trackedBy(t: ProgressTracker): void {
  tracker = t;
}

/** How the run's progress ended, where it keeps one. */
export const runState = (): string | undefined => tracker?.progress.state;

/** From the run's first check: emit the routed types from here on. */
export function notifyOn(routing: NotifyRouting | undefined, opts: { runEvents?: boolean } = {}): void {
  if (!routing?.types.length) return;
  notices = { routing, runEvents: opts.runEvents ?? true, emitted: 0, starts: [] };
}

/** Emits `type` if routed. Synchronous for the caller (an Update handler may emit): the child's
 * start is awaited when the run ends (`runEnded`). */
export function emit(
  type: EventType,
  parts: Pick<
    RekeyEvent,
    'gate' | 'decision' | 'failure' | 'skipped' | 'steps' | 'schedule' | 'secret' | 'supply'
  > &
    Partial<Pick<RekeyEvent, 'environments'>>,
): void {
  const n = notices;
  if (!n?.routing.types.includes(type)) return;
  const info = workflowInfo();
  const now = Date.now();
  // Stable when the run replays, new for an event emitted again after a reset to before it (a
  // reset run keeps the first run's id, and its id for an event already delivered would otherwise
  // be refused). The workflow's seeded random numbers are both: the same on replay, reseeded by a
  // reset. The clock was not: where a local activity's result came in a workflow task of its own,
  // the code after it read that task's time when it ran and the earlier task's on replay, and the
  // run stopped on a nondeterminism error (runs recorded before replay with the clock).
  const unique = patched('event-id-from-seed') ? uuid4().slice(0, 13) : String(now);
  const event: RekeyEvent = {
    id: `${info.workflowId}/${info.firstExecutionRunId}/${++n.emitted}.${unique}`,
    type,
    time: new Date(now).toISOString(),
    namespace: info.namespace,
    workflowType: info.workflowType,
    workflowId: info.workflowId,
    // The run whose history records the event (activities/notify.ts checks it there).
    runId: info.runId,
    title: tracker?.title ?? info.workflowType,
    environments: n.routing.environments,
    ...(override ? { freezeOverride: override } : {}),
    ...parts,
  };
  // Started whatever becomes of the scope that emitted it (a lock's, a cancelled run's).
  n.starts.push(
    CancellationScope.nonCancellable(() =>
      startChild(deliverEvent, {
        workflowId: `notify/${event.id}`,
        args: [event],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        staticSummary: `${type}: ${event.title}`,
      }),
    ).then(
      () => undefined,
      // The id was taken (by a workflow someone else started under it): the run's history records
      // the refused start and `rekey status` lists the event as not delivered.
      (err: unknown) => log.warn(`${type} not announced: its delivery could not start (${errorText(err)})`),
    ),
  );
}

/** The run is over (the interceptor calls it, outside any cancellation): its outcome is emitted,
 * and every event's child has started before the run closes. */
export async function runEnded(outcome: { error?: unknown; dryRun: boolean }): Promise<void> {
  const n = notices;
  if (!n) return;
  if (n.runEvents && !outcome.dryRun) {
    const steps = tracker?.progress.steps.map((s) => ({
      name: s.name,
      status: s.status,
      ...(s.detail ? { detail: s.detail } : {}),
    }));
    // A run may end "completed" with environments left unchanged (rotate's ok: false).
    const failed = outcome.error !== undefined || tracker?.progress.state === 'failed';
    const schedule = startingSchedule();
    const scheduled = schedule ? { schedule: { id: schedule } } : {};
    if (skipped && !failed) emit('schedule.skipped', { skipped, ...scheduled });
    else if (!failed) emit('run.completed', steps ? { steps } : {});
    else {
      const failure =
        outcome.error === undefined
          ? 'not every environment was changed (see the steps)'
          : isCancellation(outcome.error)
            ? `cancelled: ${errorText(outcome.error)}`
            : errorText(outcome.error);
      emit('run.failed', { failure, ...(steps ? { steps } : {}), ...scheduled });
      // Asked only where someone listens: the schedule's runs before this one, in visibility.
      if (schedule && n.routing.types.includes('schedule.failing')) {
        // Never in the way of the run's own outcome: a visibility that cannot answer costs the
        // streak's event only (run.failed above is sent all the same).
        const consecutiveFailures = await routes.scheduleFailures({ scheduleId: schedule }).catch((err) => {
          log.warn(`schedule.failing not announced: ${errorText(err)}`);
          return 0;
        });
        if (consecutiveFailures >= 2)
          emit('schedule.failing', { failure, schedule: { id: schedule, consecutiveFailures } });
      }
    }
  }
  await Promise.all(n.starts);
}

const routes = proxyActivities<NotifyActivities>(shortActivity);
/** A delivery is retried for about a day (5s, 10s, ... then every 30 minutes); each attempt
 * is short: a receiver that hangs is a failed attempt. */
const delivery = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '30m', maximumAttempts: 60 },
});

/** One event to every sink its routes name, side by side. Fails (visible in `rekey status`) when a
 * sink never took it. */
export async function deliverEvent(event: RekeyEvent): Promise<{ delivered: string[] }> {
  const sinks = await routes.notificationSinks(event);
  // The emitting worker routed it; this one (another config) routes it nowhere: not "delivered".
  if (!sinks.length)
    throw fail(
      FailureType.NotDelivered,
      `${event.type} of ${event.workflowId}: no route of this worker's notify: takes it (the worker that ran ${event.workflowId} routed it; are their rekey.yaml files the same?)`,
    );
  const results = await Promise.allSettled(
    sinks.map((sink) => delivery.deliverNotification({ event, sink })),
  );
  const failed = sinks.flatMap((sink, i) => {
    const r = results[i];
    return r?.status === 'rejected' ? [`${sink} (${errorText(r.reason)})`] : [];
  });
  if (failed.length)
    throw fail(
      FailureType.NotDelivered,
      `${event.type} of ${event.workflowId} was not delivered to ${failed.join(', ')}`,
    );
  return { delivered: sinks };
}
