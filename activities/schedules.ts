// What a run needs to know about the schedule that started it, or the run that started it, read
// from Temporal (never from the run's own input or search attributes, which its starter chose).
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';

export function createScheduleActivities() {
  return {
    /** When `scheduleId` starts its next run (null: paused, deleted, or no run ahead). */
    async nextScheduledStart(input: { scheduleId: string }): Promise<string | null> {
      const schedule = Context.current().client.schedule.getHandle(input.scheduleId);
      try {
        const d = await schedule.describe();
        return d.state.paused ? null : (d.info.nextActionTimes[0]?.toISOString() ?? null);
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return null;
        throw err;
      }
    },

    /**
     * Whether schedule `scheduleId` started the run `workflowId`, as the schedule itself records
     * it (its running and recent actions): a client may set TemporalScheduledById on a run it
     * starts, but not add the run to a schedule's actions. The schedule records a run just after
     * starting it, so a run asking at its first step is looked for again for a few seconds. The
     * run is matched by its first run id too: a run started later under a scheduled run's
     * workflow id (after that one closed) is not the schedule's. Runs recorded before passed no
     * run id.
     */
    async scheduleStartedRun(input: {
      scheduleId: string;
      workflowId: string;
      runId?: string;
    }): Promise<boolean> {
      const schedule = Context.current().client.schedule.getHandle(input.scheduleId);
      for (let attempt = 0; attempt < 20; attempt++) {
        let d: Awaited<ReturnType<typeof schedule.describe>>;
        try {
          d = await schedule.describe();
        } catch (err) {
          if (err instanceof ScheduleNotFoundError) return false;
          throw err;
        }
        const runs = [...d.info.runningActions, ...d.info.recentActions.map((a) => a.action)];
        const started = (a: (typeof runs)[number]) =>
          a.workflow.workflowId === input.workflowId &&
          (input.runId === undefined || a.workflow.firstExecutionRunId === input.runId);
        if (runs.some(started)) return true;
        await sleep(500);
      }
      return false;
    },

    /** A run as the server reports it: its workflow type, task queue and start (null: none). */
    async runFacts(input: {
      workflowId: string;
      runId?: string;
    }): Promise<{ type: string; taskQueue: string; startTime: string } | null> {
      try {
        const d = await Context.current().client.workflow.getHandle(input.workflowId, input.runId).describe();
        return { type: d.type, taskQueue: d.taskQueue, startTime: d.startTime.toISOString() };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    },
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
