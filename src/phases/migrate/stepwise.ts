import { DriftError } from "../../errors.js";
import { statementChecksum } from "../../sql/checksum.js";
import { mustRunOutsideTransaction } from "../../sql/classify.js";
import { isApplied } from "../../state/migrations.js";
import { readStepRows, type StepRow } from "../../state/steps.js";
import type { PhaseContext } from "../context.js";
import type { SqlMigration } from "./migration.js";
import { stepwiseTracking } from "./sql-text.js";
import { judgeStarted, type Step } from "./step-judge.js";
import { runAlone, runInTransaction } from "./step-run.js";

export interface StepwiseOptions {
  /** Go on although statements already run have changed in the file (they count as applied). */
  readonly allowChanged?: boolean;
}

/**
 * A migration that cannot run in a transaction (SPEC guarantee 2): statement by
 * statement, under an expiring claim so one runner works it at a time, each
 * statement recorded with a fence that proves the claim is still held. A statement
 * PostgreSQL allows in a transaction block runs in one with its step row (exactly
 * once, never an unknown outcome); one it refuses there is marked started before it
 * is sent and done after.
 */
export async function applyStepwise(m: SqlMigration, c: PhaseContext, opts: StepwiseOptions = {}): Promise<"applied" | "skipped"> {
  const checksums = await Promise.all(m.statements.map((s) => statementChecksum(s.text)));
  const outcome = await c.claims.withClaim(
    `migration:${m.name}`,
    () => c.gw.executeWithRetry({ name: `check ${m.name}`, run: (ctx) => isApplied(ctx, c.names, m.name) }),
    async (claim) => {
      const rows = await c.gw.executeWithRetry({ name: `read steps of ${m.name}`, run: (ctx) => readStepRows(ctx, c.names, m.name) });
      refuseChangedSteps(m, rows, checksums, c, opts);
      for (const [i, stmt] of m.statements.entries()) {
        const t = performance.now();
        const by = await runStep({ m, i, stmt, checksum: checksums[i]!, claim, c }, rows.get(i));
        if (by === "this-run") c.emit({ type: "statement-applied", migration: m.name, index: i, ms: Math.round(performance.now() - t) });
      }
      const recorded = await c.gw.query(`record ${m.name}`, `${stepwiseTracking(m, c)} RETURNING name`);
      return recorded.length > 0;
    },
    (holder) => c.emit({ type: "waiting", what: m.name, holder }),
  );
  return outcome.ran && outcome.value ? "applied" : "skipped";
}

/** Runs one statement unless its step is done; "earlier" when this run did not run it. */
async function runStep(s: Step, first: StepRow | undefined): Promise<"this-run" | "earlier"> {
  let row = first;
  for (;;) {
    if (row?.done) return "earlier";
    s.claim.check();
    // Started and not done: by a runner that died or stalled, or stopped by a lost connection.
    if (row && (await judgeStarted(s, row)) === "done") return "earlier";
    let ran = mustRunOutsideTransaction(s.stmt) ? await runAlone(s, row) : await runInTransaction(s, row);
    // PostgreSQL refused it in a transaction block after all (a procedure that commits, say).
    if (ran === "alone") ran = await runAlone(s, row);
    if (ran !== "taken") return ran;
    // The step was recorded meanwhile (by another runner, or by this one's attempt cut off): look again.
    row = (await s.c.gw.executeWithRetry({ name: `read step ${s.i + 1} of ${s.m.name}`, run: (ctx) => readStepRows(ctx, s.c.names, s.m.name, s.i) })).get(s.i);
    if (row?.done) return row.startedBy === s.claim.owner ? "this-run" : "earlier";
  }
}

/**
 * Statements already run (or started) must be the ones in the file: an edit to one
 * is drift (exit 4), unless `--allow-changed`, which counts it as applied. Editing a
 * statement that never ran, the usual fix after a failure, is not drift.
 */
function refuseChangedSteps(m: SqlMigration, rows: ReadonlyMap<number, StepRow>, checksums: readonly string[], c: PhaseContext, opts: StepwiseOptions): void {
  const changed: string[] = [];
  for (const row of [...rows.values()].sort((a, b) => a.step - b.step)) {
    const stmt = m.statements[row.step];
    const same = stmt !== undefined && (row.statementChecksum !== null ? row.statementChecksum === checksums[row.step] : row.fileChecksum === m.checksum);
    if (same) continue;
    const what = row.done ? "was already run" : "was started";
    changed.push(stmt ? `${m.file}:${stmt.line}: statement ${row.step + 1} ${what} and has changed since` : `${m.file}: statement ${row.step + 1} ${what} and is no longer in the file`);
  }
  if (!changed.length) return;
  if (!opts.allowChanged) {
    throw new DriftError(`refusing to migrate ${m.name}: ${changed.join("; ")} (--allow-changed to go on: a statement already run counts as applied)`);
  }
  for (const line of changed) c.emit({ type: "warning", message: `${line}; going on (--allow-changed)` });
}
