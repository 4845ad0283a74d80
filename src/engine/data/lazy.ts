/**
 * Runs `load` once and hands every caller the same promise, so train()/test() parse their files a
 * single time. A failed load is forgotten, so a later call (after the user fixes the files) retries.
 */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    if (!pending) {
      pending = load().catch((error: unknown) => {
        pending = null;
        throw error;
      });
    }
    return pending;
  };
}
