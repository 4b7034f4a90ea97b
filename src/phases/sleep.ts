/** The longest delay setTimeout keeps; a longer one fires at once (Node warns and uses 1 ms). */
const maxTimer = 2 ** 31 - 1;

/**
 * Waits `ms`, or less when `stop` aborts first (a graceful stop ends every wait at once).
 * A wait past setTimeout's limit (about 24.8 days: a fleet's soak can be that long)
 * is taken in pieces, so it is not cut to nothing.
 */
export function sleep(ms: number, stop?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    // The monotonic clock: a wall-clock step (NTP) neither stretches nor cuts the wait.
    const until = performance.now() + ms;
    let t = setTimeout(tick, Math.min(ms, maxTimer));
    function tick() {
      const left = until - performance.now();
      if (left > 0) t = setTimeout(tick, Math.min(left, maxTimer));
      else done();
    }
    function done() {
      clearTimeout(t);
      stop?.removeEventListener("abort", done);
      r();
    }
    stop?.addEventListener("abort", done, { once: true });
  });
}
