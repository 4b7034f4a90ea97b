import type { KeelStatus } from "../keel.js";

/** Exit status of `status --check` and `plan --check`: pending work is 7, distinct from every failure. */
export const pendingExit = 7;

/**
 * The CI gate: 4 when anything drifted (what `migrate` would refuse, or an index
 * whose definition changed), else 7 when anything is pending (migrations, also
 * those waiting on a backfill; indexes not valid; backfills not done), else 0.
 * Returns the status and one line saying why.
 */
export function checkStatus(s: KeelStatus): { readonly code: 0 | 4 | 7; readonly why: string } {
  const drift = [
    ...s.migrations.filter((m) => m.state === "changed" || m.state === "missing" || (m.state === "pending" && m.outOfOrder)).map((m) => `migration ${m.name} ${m.state === "pending" ? "out of order" : m.state}`),
    ...s.indexes.filter((i) => i.state === "changed").map((i) => `index ${i.name} changed`),
  ];
  if (drift.length) return { code: 4, why: `check: drift: ${drift.join(", ")} (exit 4)` };
  const pending = [
    ...s.migrations.filter((m) => m.state === "pending").map((m) => `migration ${m.name}`),
    ...s.indexes.filter((i) => i.state !== "valid").map((i) => `index ${i.name} (${i.state})`),
    ...s.backfills.filter((b) => b.state !== "done").map((b) => `backfill ${b.name} (${b.state})`),
  ];
  if (pending.length) return { code: pendingExit, why: `check: pending: ${pending.join(", ")} (exit ${pendingExit})` };
  return { code: 0, why: "check: nothing pending, nothing drifted" };
}

/** Prints why and returns the exit status, for `--check`. */
export function gate(s: KeelStatus, out: { log(line: string): void }): number {
  const r = checkStatus(s);
  out.log(r.why);
  return r.code;
}
