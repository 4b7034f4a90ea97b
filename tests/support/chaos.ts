import { onTestFailed } from "vitest";
import { createKeel, type Keel } from "../../src/index.js";

/**
 * A keel for chaos runs: quick retries with a deep budget, and every event kept
 * so that a failing seed prints what it was doing.
 */
export function chaosKeel(url: string, cwd: string, seed: number): Keel {
  const events: string[] = [];
  onTestFailed(() => console.error(`seed ${seed}, last events:\n${events.slice(-40).join("\n")}`));
  return createKeel({
    url,
    cwd,
    retryFirstMs: 10,
    retryCapMs: 50,
    maxRetries: 40,
    onEvent: (e) => events.push(`${new Date().toISOString()} ${JSON.stringify(e)}`),
  });
}
