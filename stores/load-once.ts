// A value a store loads once (an SDK and its client, a token) and keeps; a failed load is not
// kept, so the next call tries again instead of failing for the worker's life.

/** `load`'s result, loaded at the first call and shared by the calls after it. */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((err: unknown) => {
      loaded = undefined;
      throw err;
    });
    return loaded;
  };
}
