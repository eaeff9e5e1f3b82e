// The workflow interceptors the bundle registers (worker/bundle.ts): the one place every run
// ends, whatever path it ends by, so that its outcome is emitted (workflows/notify.ts).
import {
  CancellationScope,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import { runEnded } from './notify';

class RunOutcome implements WorkflowInboundCallsInterceptor {
  async execute(
    input: WorkflowExecuteInput,
    next: (input: WorkflowExecuteInput) => Promise<unknown>,
  ): Promise<unknown> {
    const dryRun = (input.args[0] as { dryRun?: unknown } | undefined)?.dryRun === true;
    let result: unknown;
    try {
      result = await next(input);
    } catch (error) {
      // A cancelled run still says so: outside the cancelled scope.
      await CancellationScope.nonCancellable(() => runEnded({ error, dryRun }));
      throw error;
    }
    await runEnded({ dryRun });
    return result;
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RunOutcome()] });
