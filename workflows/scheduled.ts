// Whether a schedule started this run: the server sets TemporalScheduledById on the runs a
// schedule starts, and no client can set it.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';

const scheduledById = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

/** The id of the schedule that started this run, if one did. */
export function startingSchedule(): string | undefined {
  return workflowInfo().typedSearchAttributes.get(scheduledById);
}
