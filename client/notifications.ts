// What became of a run's events (notify:): each one's delivery run, as Temporal reports it.
// Read from the run's own history (the children it started), so nothing else needs to be listed.
import type { Client } from '@temporalio/client';
import {
  decodeFromPayloadsAtIndex,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow';
import type { RekeyEvent } from '../shared/notify-events';
import { errorText } from '../workflows/errors';

export interface NotificationState {
  id: string;
  event: string;
  /** delivered; sending (a first attempt runs); retrying (a sink failed, attempts go on);
   * failed (a sink never took it); stopped (terminated or cancelled). */
  status: 'delivered' | 'sending' | 'retrying' | 'failed' | 'stopped';
  /** Why a delivery is retrying or failed: the sink and what it answered. */
  detail?: string;
}

export async function runNotifications(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<NotificationState[]> {
  const converter = client.workflow.options.loadedDataConverter;
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  // The run the parent started under each child id, as its history records it: a workflow that
  // someone else started under that id first is not the event's delivery.
  const started = new Map<string, string>();
  const refused = new Set<string>();
  for (const e of events) {
    const ok = e.childWorkflowExecutionStartedEventAttributes;
    if (ok?.workflowExecution?.workflowId && ok.workflowExecution.runId)
      started.set(ok.workflowExecution.workflowId, ok.workflowExecution.runId);
    const no = e.startChildWorkflowExecutionFailedEventAttributes;
    if (no?.workflowId) refused.add(no.workflowId);
  }
  const children = events
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
    .filter((a) => a?.workflowType?.name === 'deliverEvent' && a.workflowId);
  return Promise.all(
    children.map(async (a): Promise<NotificationState> => {
      const event = await decodeFromPayloadsAtIndex<RekeyEvent>(converter, 0, a?.input?.payloads);
      const childId = a?.workflowId as string;
      const base = { id: event.id, event: event.type };
      if (refused.has(childId))
        return { ...base, status: 'failed', detail: `its delivery could not start: ${childId} was taken` };
      const run = started.get(childId);
      if (!run) return { ...base, status: 'sending', detail: 'not started yet' };
      const handle = client.workflow.getHandle(childId, run);
      let d: Awaited<ReturnType<typeof handle.describe>>;
      try {
        d = await handle.describe();
      } catch (err) {
        return { ...base, status: 'failed', detail: `its delivery run cannot be read: ${errorText(err)}` };
      }
      switch (d.status.name) {
        case 'COMPLETED':
          return { ...base, status: 'delivered' };
        case 'RUNNING': {
          const retried = d.raw.pendingActivities?.find((p) => (p.attempt ?? 0) > 1);
          if (!retried) return { ...base, status: 'sending' };
          const why = await decodeOptionalFailureToOptionalError(converter, retried.lastFailure);
          return {
            ...base,
            status: 'retrying',
            detail: `${why?.message ?? 'failed'} (attempt ${retried.attempt})`,
          };
        }
        case 'FAILED': {
          const detail = await handle.result().then(
            () => undefined,
            (err: unknown) => errorText(err),
          );
          return { ...base, status: 'failed', ...(detail ? { detail } : {}) };
        }
        default:
          return { ...base, status: 'stopped', detail: d.status.name };
      }
    }),
  );
}
