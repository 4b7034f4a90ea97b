import { UnknownOutcomeError } from "../../errors.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { isSafeToRepeat } from "../../sql/classify.js";
import type { Statement } from "../../sql/split.js";
import type { Claim } from "../../state/claims.js";
import { markStepDone, readStepRows, resolveStepSql, type StepRow } from "../../state/steps.js";
import { settleIndex, type IndexRef } from "../indexes/settle.js";
import type { StepText } from "./step-sql.js";

/** One statement of a non-transactional migration, as this run works it. */
export interface Step extends StepText {
  readonly claim: Claim;
}

export function label(s: Step): string {
  return `${s.m.name} statement ${s.i + 1} (${s.m.file}:${s.stmt.line})`;
}

/** The index a CREATE INDEX statement builds, on the table it names. */
export function indexOf(stmt: Statement): IndexRef | undefined {
  if (stmt.kind !== "IndexStmt" || typeof stmt.node.idxname !== "string") return undefined;
  const rel = stmt.node.relation as { schemaname?: string; relname: string };
  return { schema: rel.schemaname, name: stmt.node.idxname, table: { schema: rel.schemaname, name: rel.relname } };
}

/** Settles the index a step builds: "valid" (built), or "missing" (build it; an INVALID leftover was dropped). */
export function settleStepIndex(ctx: UnitContext, s: Step, ref: IndexRef): Promise<"valid" | "missing"> {
  return settleIndex(ctx, ref, () =>
    s.c.emit({ type: "waiting", what: `${s.m.name}: index ${ref.name}`, holder: "a build still running in another session" }),
  );
}

/**
 * A step found started and not done when this runner took the claim: its runner
 * died or stalled. Waits while that runner's session still runs the statement,
 * then decides from the step row, the catalog (an index), or whether it is safe to
 * repeat; "done" is recorded. Otherwise stops with exit 5 and the SQL to resolve it.
 */
export async function judgeStarted(s: Step, row: StepRow): Promise<"done" | "redo"> {
  return s.c.gw.executeWithRetry({
    name: `resolve ${label(s)}`,
    run: async (ctx) => {
      const verdict = await judge(ctx, s, row.session, `was started by ${row.startedBy ?? "another runner"} and never recorded as done`);
      if (verdict === "done") await markStepDone(ctx, s.c.names, s.m.name, s.i);
      return verdict;
    },
  });
}

/** The same judgement for this run's own statement, when its connection was lost while it ran. */
export function judgeInFlight(ctx: UnitContext, s: Step): Promise<"done" | "redo"> {
  return judge(ctx, s, s.c.claims.session, "was running when the connection was lost");
}

async function judge(ctx: UnitContext, s: Step, session: string | null, how: string): Promise<"done" | "redo"> {
  await waitWhileRunning(ctx, s, session);
  const row = (await readStepRows(ctx, s.c.names, s.m.name, s.i)).get(s.i);
  if (!row) return "redo";
  if (row.done) return "done";
  const index = indexOf(s.stmt);
  if (index) return (await settleStepIndex(ctx, s, index)) === "valid" ? "done" : "redo";
  if (isSafeToRepeat(s.stmt)) return "redo";
  throw new UnknownOutcomeError(unknownOutcome(s, how));
}

/**
 * Waits while a session of the runner that started the step is active: its
 * statement outlives a killed client, and commits or fails on its own.
 * Connections carry application_name `pgkeel:<runner id>`.
 */
async function waitWhileRunning(ctx: UnitContext, s: Step, session: string | null, pollMs = 500): Promise<void> {
  if (!session) return;
  let announced = false;
  for (;;) {
    const [row] = await ctx.rows<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND pid <> pg_backend_pid()`,
      [session],
    );
    if (!row?.n) return;
    if (!announced) {
      s.c.emit({ type: "waiting", what: label(s), holder: `session ${session}, which started it and still runs it` });
      announced = true;
    }
    s.claim.check();
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function unknownOutcome(s: Step, how: string): string {
  const sql = resolveStepSql(s.c.names, s.m.name, s.i);
  const text = s.stmt.text.replace(/\s+/g, " ");
  return [
    `${s.m.file}:${s.stmt.line}:${s.stmt.column}: statement ${s.i + 1} (${text.length > 100 ? `${text.slice(0, 100)}...` : text}) ${how}.`,
    "pgkeel cannot tell whether it took effect (the catalog cannot say, and it is not safe to run twice), so it stops rather than guess.",
    `Check the database, then either record it as done: pgkeel repair --mark-done ${s.m.name}:${s.i + 1}, or in SQL:`,
    `  ${sql.markDone}`,
    `or let the next run send it again: pgkeel repair --retry ${s.m.name}:${s.i + 1}, or in SQL:`,
    `  ${sql.retry}`,
  ].join("\n");
}
