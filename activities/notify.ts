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
import { parseDuration } from '../config/duration';
import { routedTypes, sinksOf } from '../config/notify';
import type { Config } from '../config/schema';
import { deliver } from '../notify/deliver';
import { FailureType, fail } from '../shared/failures';
import type { RekeyEvent } from '../shared/notify-events';
import { canonicalJson } from '../shared/sshsig';
import { typesThat } from '../shared/workflow-types';
import { secretStates } from '../stores/secret-states';

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

    /** The daily secret watch's findings (workflows/watch-secrets.ts): every secret, in each of
     * its environments, past its due date or due within notify.dueWithin; `notices` those of them
     * some route takes, less those due (not yet overdue) that the last watch announced already. */
    async secretsDue(input: { at: number; announcedDue: string[] }): Promise<{
      due: string[];
      overdue: string[];
      unreadable: string[];
      notices: SecretNotice[];
    }> {
      const soon = parseDuration(notify?.dueWithin ?? '14d');
      const found = { due: [] as string[], overdue: [] as string[], unreadable: [] as string[] };
      const notices: SecretNotice[] = [];
      for (const s of await secretStates(deps.config, undefined, input.at)) {
        const key = `${s.secret}/${s.env}`;
        if (s.unreadable) found.unreadable.push(key);
        if (!s.due || !s.changed || (!s.overdue && Date.parse(s.due) - input.at > soon)) continue;
        const type = s.overdue ? 'secret.overdue' : 'secret.due';
        (s.overdue ? found.overdue : found.due).push(key);
        if (type === 'secret.due' && input.announcedDue.includes(key)) continue;
        if (!routedTypes(notify, [s.env]).includes(type)) continue;
        notices.push({
          type,
          secret: {
            name: s.secret,
            environment: s.env,
            location: `${s.store}:${s.name}`,
            changed: s.changed,
            due: s.due,
          },
        });
      }
      return { ...found, notices };
    },

    /** How many of the schedule's runs failed in a row, the one asking (still running) included:
     * the closed runs it started, newest first, up to the first that completed. A run that
     * completed with environments left unchanged (rotate's ok: false) counts as completed here. */
    async scheduleFailures(input: { scheduleId: string }): Promise<number> {
      // The id goes into a visibility query: rekey's schedule ids only (letters, digits, / + . _ -).
      if (!/^[\w/+.-]+$/.test(input.scheduleId))
        throw fail(
          FailureType.BadInput,
          `schedule ${JSON.stringify(input.scheduleId)} is not one of rekey's (letters, digits, / + . _ - only): its runs' failures are not counted`,
        );
      const { client } = Context.current();
      let failures = 1;
      const closed = client.workflow.list({
        query: `TemporalScheduledById = '${input.scheduleId}' AND ExecutionStatus != 'Running'`,
      });
      for await (const run of closed) {
        if (!FAILED.has(run.status.name) || failures >= 100) break;
        failures++;
      }
      return failures;
    },
  };
}

/** A secret the daily watch announces. */
export interface SecretNotice {
  type: 'secret.due' | 'secret.overdue';
  secret: NonNullable<RekeyEvent['secret']>;
}

const FAILED = new Set(['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED']);

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
