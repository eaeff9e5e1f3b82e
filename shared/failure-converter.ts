// Failures are sealed like every other payload: a failure's message and stack trace (a service's
// log lines, a command's output, a path or name of the operator's) go into an encoded payload
// that the codec encrypts, and the history keeps only "Encoded failure". A client or Web UI with
// the codec reads them as before. Used by the workflow bundle (worker/bundle.ts) and by the
// worker for its activities' failures (failureConverterPath: a module with this named export).
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
