/**
 * Hands control back to the host's event loop for one macrotask. tfjs' `data()` resolves as a microtask on the
 * wasm and cpu backends, so a loop that only awaits it never lets timers, I/O, signal handlers or worker messages
 * run; awaiting this once a step does. setImmediate in Node (no 1 ms clamp), a MessageChannel message in pages and
 * workers (setTimeout(0) is clamped to >= 4 ms after a few nested calls), setTimeout as the last resort.
 */
export function yieldToHost(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
