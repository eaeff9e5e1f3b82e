// Where a run's time went, from its history (BENCH_VERBOSE): each activity's start (ms after
// `started`, the client's clock at the start; the server's clock is the same machine's) and its
// duration, in the order they were scheduled.
import type { Client } from '@temporalio/client';

export async function stepLine(client: Client, workflowId: string, started: number): Promise<string> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const ms = (e: (typeof events)[number]) =>
    Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
  return events
    .filter(
      (e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes,
    )
    .map((e) => {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (child) return `child:${child.workflowId}@${ms(e) - started}`;
      const done = events.find(
        (c) => String(c.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(e.eventId),
      );
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return `${name}@${ms(e) - started}+${done ? ms(done) - ms(e) : '?'}`;
    })
    .join(' ');
}
