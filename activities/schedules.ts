// What a run needs to know about the schedule that started it, read from Temporal.
import { Context } from '@temporalio/activity';
import { ScheduleNotFoundError } from '@temporalio/client';

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
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
