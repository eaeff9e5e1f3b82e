// Polling for a state a test waits on (a gate reached, a copy under way), with one error that
// names what never happened.

/**
 * Calls `check` every `everyMs` until it returns something other than undefined, and returns
 * that. A throw counts as "not yet" (a workflow not started, a query not yet answerable).
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  { timeoutMs = 30_000, everyMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`gave up after ${timeoutMs / 1000}s waiting for ${what}${why}`);
}
