// A keyring recipe's table, its rows sealed again under the new key: activities of ten pages each
// (a page is one transaction, done again harmlessly after a crash: a row the new key opens is left
// alone), and every CALLS_PER_RUN calls a new run carrying the cursor (continue-as-new), so the
// history stays short however big the table. Started by rotateSecret only: on its own it is
// refused.
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RotateSecretActivities } from '../activities/rotate-secret';
import { FailureType, fail } from '../shared/failures';
import { retry } from './activity-options';
import { parseInput } from './errors';
import { ReencryptRowsInput } from './inputs';

/** Calls of the activity (ten pages each) per run. */
const CALLS_PER_RUN = 4;

// A call heartbeats each page's end: a killed worker's call is taken up again within seconds, from
// the last page it finished. A database's bad minutes are ridden out; a row no key opens fails at
// once.
const pages = proxyActivities<RotateSecretActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '10s',
  retry: { ...retry, maximumAttempts: 20 },
});

export interface ReencryptRowsResult {
  rows: number;
  reencrypted: number;
  pages: number;
}

export async function reencryptRows(rawInput: ReencryptRowsInput): Promise<ReencryptRowsResult> {
  const input = parseInput(ReencryptRowsInput, rawInput);
  if (!workflowInfo().parent)
    throw fail(
      FailureType.PolicyViolation,
      'reencryptRows runs only inside a rotateSecret run (rekey secret rotate), after its plan was approved',
    );
  const { after: start, done, ...target } = input;
  let after = start;
  const total = { ...done };
  for (let i = 0; i < CALLS_PER_RUN; i++) {
    const call = await pages.reencryptRows({ ...target, after });
    total.rows += call.rows;
    total.reencrypted += call.reencrypted;
    total.pages += call.pages;
    if (call.end) return total;
    after = call.last;
  }
  return continueAsNew<typeof reencryptRows>({ ...input, after, done: total });
}
