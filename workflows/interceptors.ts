// The workflow interceptors the bundle registers (worker/bundle.ts): the one place every run
// ends, whatever path it ends by, so that its outcome is emitted (workflows/notify.ts) and counted
// (workflows/run-metrics.ts).
import {
  CancellationScope,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  workflowInfo,
} from '@temporalio/workflow';
import { runEnded, runState } from './notify';
import { countRun } from './run-metrics';

class RunOutcome implements WorkflowInboundCallsInterceptor {
  async execute(
    input: WorkflowExecuteInput,
    next: (input: WorkflowExecuteInput) => Promise<unknown>,
  ): Promise<unknown> {
    const dryRun = (input.args[0] as { dryRun?: unknown } | undefined)?.dryRun === true;
    const { workflowType } = workflowInfo();
    countRun(workflowType, input.args[0], 'started');
    let result: unknown;
    try {
      result = await next(input);
    } catch (error) {
      countRun(workflowType, input.args[0], 'failed');
      // A cancelled run still says so: outside the cancelled scope.
      await CancellationScope.nonCancellable(() => runEnded({ error, dryRun }));
      throw error;
    }
    // A run may end "completed" with environments left unchanged (rotate's ok: false).
    countRun(workflowType, input.args[0], runState() === 'failed' ? 'failed' : 'completed');
    await runEnded({ dryRun });
    return result;
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RunOutcome()] });
