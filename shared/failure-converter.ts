// Failures are sealed like every other payload: a failure's message and stack trace (a service's
// log lines, a command's output, a path or name of the operator's) go into an encoded payload
// that the codec encrypts, and the history keeps only "Encoded failure". A client or Web UI with
// the codec reads them as before. Used by the workflow bundle (worker/bundle.ts) and by the
// worker for its activities' failures (failureConverterPath: a module with this named export).
//
// One exception: a refused decision (an Update's validator) stays plain. It goes back to whoever
// sent the Update, and the Web UI shows an Update's failure as it comes (it does not decode it);
// its text names approvers and digests, never a secret.
import {
  ApplicationFailure,
  DefaultFailureConverter,
  type PayloadConverter,
  type SerializationContext,
} from '@temporalio/common';

const PLAIN = Symbol.for('rekey.plainFailure');

/** `err` as a failure that travels unsealed (see above). An ApplicationFailure already, as the
 * SDK would make of it: the SDK replaces any other error by a new one, which would lose the mark. */
export function plainFailure(err: unknown): ApplicationFailure {
  const failure =
    err instanceof ApplicationFailure
      ? err
      : ApplicationFailure.create({
          message: err instanceof Error ? err.message : String(err),
          type: err instanceof Error ? err.name : 'Error',
        });
  // Its stack trace is the error's own (the Web UI shows it, first line "Error: <message>").
  if (failure !== err && err instanceof Error) failure.stack = err.stack;
  Object.defineProperty(failure, PLAIN, { value: true });
  return failure;
}

class RekeyFailureConverter extends DefaultFailureConverter {
  private readonly open = new DefaultFailureConverter();
  override errorToFailure(err: unknown, payloadConverter: PayloadConverter, context?: SerializationContext) {
    return err !== null && typeof err === 'object' && PLAIN in err
      ? this.open.errorToFailure(err, payloadConverter, context)
      : super.errorToFailure(err, payloadConverter, context);
  }
}

export const failureConverter = new RekeyFailureConverter({ encodeCommonAttributes: true });
