import { StoppedError } from "../errors.js";

/**
 * Runs a phase's loop; when a graceful stop ends it (the gateway refused the next
 * unit), the StoppedError gains what this phase finished and what it left, so the
 * CLI can print both. `finished()` lists the work found done, by this run or others.
 */
export async function noteStop<T>(phase: string, todo: readonly string[], finished: () => readonly string[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!(e instanceof StoppedError)) throw e;
    const done = finished();
    throw e.with(phase, done, todo.filter((n) => !done.includes(n)));
  }
}
