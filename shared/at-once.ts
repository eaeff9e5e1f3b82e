// Bounded concurrency for many small steps (a run over an environment's secrets); no Node imports:
// workflows use it too, where its order of calls is deterministic.

/** Secrets planned, written, probed or put back at once by a run over an environment's secrets: a
 * store's API and a host take this many well. */
export const SECRETS_AT_ONCE = 8;

/** `fn` over `items`, at most `limit` at a time, started in order; each one's outcome in
 * `items`' order, once every one has ended (a failure stops none of the others). */
export async function atOnce<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i] as T, i) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
