// The notification activities (workflows/notify.ts runs them): which sinks an event goes to, by
// this worker's notify: routes, and one delivery to one sink. A delivery that fails is retried
// by its workflow and counted (rekey_notification_failures); the run that emitted it never waits.
//
// Anyone who may start workflows in the namespace could schedule a delivery with words of their
// own (a fake gate, a fake command, under the webhook's signature). So a delivery is made only of
// an event that a rekey run on this task queue started, as the server's history of that run
// records it, exactly as recorded.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { sinksOf } from '../config/notify';
import type { Config } from '../config/schema';
import { deliver } from '../notify/deliver';
import { FailureType, fail } from '../shared/failures';
import type { RekeyEvent } from '../shared/notify-events';
import { canonicalJson } from '../shared/sshsig';
import { typesThat } from '../shared/workflow-types';

/** Refuses (nothing sent) an event that no rekey run emitted as it stands. */
async function checkEmitted(e: RekeyEvent): Promise<void> {
  const { client, info } = Context.current();
  const refuse = (why: string) =>
    fail(FailureType.PolicyViolation, `event ${e.id} was not delivered: ${why}; nothing was sent`);
  const child = `notify/${e.id}`;
  if (info.workflowType !== 'deliverEvent' || info.workflowExecution?.workflowId !== child)
    throw refuse(
      `it was scheduled by ${info.workflowType} ${info.workflowExecution?.workflowId}, not by ${child}`,
    );
  const run = client.workflow.getHandle(e.workflowId, e.runId);
  let facts: Awaited<ReturnType<typeof run.describe>>;
  try {
    facts = await run.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw refuse(`no run ${e.workflowId} ${e.runId}`);
    throw err;
  }
  if (!typesThat('progress').has(facts.type) || facts.taskQueue !== info.taskQueue)
    throw refuse(
      `${e.workflowId} is a ${facts.type} on ${facts.taskQueue}, not a rekey run on ${info.taskQueue}`,
    );
  const started = (await run.fetchHistory()).events?.find(
    (ev) => ev.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === child,
  )?.startChildWorkflowExecutionInitiatedEventAttributes;
  if (!started) throw refuse(`${e.workflowId} did not emit it`);
  const emitted = await decodeFromPayloadsAtIndex(
    client.workflow.options.loadedDataConverter,
    0,
    started.input?.payloads,
  );
  if (canonicalJson(emitted) !== canonicalJson(e))
    throw refuse(`it is not the event ${e.workflowId} emitted`);
}

/** The run's page in the Web UI. */
const runUrl = (webUi: string, e: RekeyEvent) =>
  `${webUi.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(e.namespace)}/workflows/${encodeURIComponent(e.workflowId)}/${e.runId}/history`;

export function createNotifyActivities(deps: { config: Config }) {
  const notify = deps.config.notify;
  return {
    async notificationSinks(event: RekeyEvent): Promise<string[]> {
      return sinksOf(notify, event);
    },

    async deliverNotification(input: { event: RekeyEvent; sink: string }): Promise<string> {
      if (!notify) throw new Error(`sink ${input.sink}: this worker's rekey.yaml has no notify: section`);
      await checkEmitted(input.event);
      const event = notify.webUi ? { ...input.event, url: runUrl(notify.webUi, input.event) } : input.event;
      try {
        return await deliver(notify, input.sink, event);
      } catch (err) {
        Context.current()
          .metricMeter.createCounter(
            'rekey_notification_failures',
            '1',
            'Failed attempts to deliver an event to a notify sink',
          )
          .add(1, { sink: input.sink, event: event.type });
        throw err;
      }
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
