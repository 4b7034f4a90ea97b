/** Waits `ms`, or less when `stop` aborts first (a graceful stop ends every wait at once). */
export function sleep(ms: number, stop?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      stop?.removeEventListener("abort", done);
      r();
    }
    stop?.addEventListener("abort", done, { once: true });
  });
}
