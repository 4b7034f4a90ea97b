import { RetriesExhaustedError, StoppedError } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";

export interface WaitResult {
  /** Attempts made, the successful one included. */
  readonly attempts: number;
  readonly ms: number;
}

/**
 * Tries to log in until the database accepts (for init containers and CI):
 * each failed attempt is reported with its cause; a refused login (bad
 * password, no such database) ends at once with exit 2, since waiting will not
 * fix it; the timeout ends it with exit 3. `gw` makes one attempt per call.
 */
export async function waitForLogin(
  gw: Gateway,
  timeoutMs: number,
  onAttempt: (attempt: number, cause: string, nextInMs: number) => void,
  stop?: AbortSignal,
): Promise<WaitResult> {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await gw.query("log in", "SELECT 1");
      return { attempts: attempt, ms: Math.round(performance.now() - started) };
    } catch (e) {
      if (!(e instanceof RetriesExhaustedError)) throw e;
      const left = timeoutMs - (performance.now() - started);
      if (left <= 0) throw new RetriesExhaustedError(`wait: no login within ${timeoutMs / 1000} s`, attempt, e.lastCause, undefined, "raise --timeout");
      const next = Math.min(left, Math.min(1000, 100 * 2 ** (attempt - 1)));
      onAttempt(attempt, e.lastCause, Math.round(next));
      await new Promise((r) => setTimeout(r, next));
      if (stop?.aborted) throw new StoppedError(String(stop.reason));
    }
  }
}
