// A lookup of a workflow that may not be there, from any Temporal client.

/** `call`'s result, or undefined where the server has no such workflow (never started, its
 * history gone past the namespace's retention, or, for a terminate, closed already); any other
 * error (the server unreachable) is thrown, for the caller's retry. */
export function unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  return call.catch((err: Error) => {
    if (err.name === 'WorkflowNotFoundError') return undefined;
    throw err;
  });
}
