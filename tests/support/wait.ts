/**
 * Polls `check` until it holds: tests wait on a state (a row, a lock, a line of
 * output), never on a clock. `what` names the state when it never comes; the
 * deadline only turns a hang into a readable failure.
 */
export async function until(what: string, check: () => Promise<boolean> | boolean, deadlineMs = 45_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
