import type { UnitContext } from "../gateway/gateway.js";
import { doBlock, raiseSql } from "./guard.js";
import { quoteLiteral } from "./quote.js";
import type { StateNames } from "./schema.js";

/**
 * The steps of non-transactional migrations (SPEC guarantee 2). A step is a
 * statement, by its 0-based index in the file. Its row says:
 * - absent: never started (or cleared to run again);
 * - started (`done_at` NULL): marked before the statement was sent, by
 *   `started_by`, whose connections carry application_name `session`;
 * - done (`done_at` set).
 * `statement_checksum` is the statement's token checksum, to tell an edit of an
 * applied statement (drift) from an edit of one that never ran.
 */
export interface StepRow {
  readonly step: number;
  readonly done: boolean;
  /** Null on rows written before per-statement checksums (compare `fileChecksum` then). */
  readonly statementChecksum: string | null;
  readonly fileChecksum: string;
  readonly startedBy: string | null;
  readonly session: string | null;
}

/** SQLSTATE of a step record that found the step already recorded by another runner. */
export const stepTaken = "PGK04";

type Reader = Pick<UnitContext, "rows">;

export async function readStepRows(db: Reader, names: StateNames, migration: string, step?: number): Promise<Map<number, StepRow>> {
  const rows = await db.rows<{ step: number; done: boolean; statement_checksum: string | null; checksum: string; started_by: string | null; session: string | null }>(
    `SELECT step, done_at IS NOT NULL AS done, statement_checksum, checksum, started_by, session
       FROM ${names.steps} WHERE migration = $1 AND ($2::int IS NULL OR step = $2::int)`,
    [migration, step ?? null],
  );
  return new Map(
    rows.map((r) => [
      r.step,
      { step: r.step, done: r.done, statementChecksum: r.statement_checksum, fileChecksum: r.checksum, startedBy: r.started_by, session: r.session },
    ]),
  );
}

/** The steps done, by index: works on the table as any pgkeel version made it (read-only paths run no upgrade). */
export async function readDoneSteps(db: Reader, names: StateNames, migration: string): Promise<Set<number>> {
  const rows = await db.rows<{ step: number }>(`SELECT step FROM ${names.steps} WHERE migration = $1 AND done_at IS NOT NULL`, [migration]);
  return new Set(rows.map((r) => r.step));
}

export interface StepMark {
  readonly migration: string;
  readonly step: number;
  /** The migration file's checksum (kept for older readers of the table). */
  readonly fileChecksum: string;
  readonly statementChecksum: string;
  readonly owner: string;
  readonly session: string;
}

/**
 * A statement recording the step as started (`done` false) or done, inside the
 * caller's transaction. It takes over a started row left by `takeOver` (a runner
 * whose statement was resolved as not run) or by this owner's own earlier attempt;
 * any other existing row aborts the transaction with PGK04. Behind another runner's
 * uncommitted row it waits for that transaction to end.
 */
export function recordStep(names: StateNames, mark: StepMark, done: boolean, takeOver?: string | null): string {
  const owners = [mark.owner, ...(takeOver ? [takeOver] : [])].map(quoteLiteral).join(", ");
  return doBlock(
    `${mark.migration}:${mark.step}:${done}`,
    `INSERT INTO ${names.steps} AS s (migration, step, checksum, statement_checksum, started_at, started_by, session, done_at)
     VALUES (${quoteLiteral(mark.migration)}, ${mark.step}, ${quoteLiteral(mark.fileChecksum)}, ${quoteLiteral(mark.statementChecksum)},
             now(), ${quoteLiteral(mark.owner)}, ${quoteLiteral(mark.session)}, ${done ? "now()" : "NULL"})
     ON CONFLICT (migration, step) DO UPDATE
       SET checksum = EXCLUDED.checksum, statement_checksum = EXCLUDED.statement_checksum, started_at = EXCLUDED.started_at,
           started_by = EXCLUDED.started_by, session = EXCLUDED.session, done_at = EXCLUDED.done_at
     WHERE s.done_at IS NULL AND s.started_by IN (${owners});
     IF NOT FOUND THEN ${raiseSql(stepTaken, "pgkeel: this step was recorded by another runner")} END IF;`,
  );
}

/** Marks a started step done (whoever started it: a statement that completed is done). $1 migration, $2 step. */
export function markStepDoneText(names: StateNames): string {
  return `UPDATE ${names.steps} SET done_at = now() WHERE migration = $1 AND step = $2 AND done_at IS NULL`;
}

export async function markStepDone(db: Reader, names: StateNames, migration: string, step: number): Promise<void> {
  await db.rows(markStepDoneText(names), [migration, step]);
}

/** Forgets a step this owner started whose statement failed for certain: a rerun may run it (edited) again. */
export async function clearStartedStep(db: Reader, names: StateNames, migration: string, step: number, owner: string): Promise<void> {
  await db.rows(`DELETE FROM ${names.steps} WHERE migration = $1 AND step = $2 AND done_at IS NULL AND started_by = $3`, [migration, step, owner]);
}

/**
 * `repair --mark-done`: the step is done, whether it was left started (exit 5) or
 * has no row at all. False when it was recorded as done already.
 */
export async function markStepDoneByHand(db: Reader, names: StateNames, mark: Omit<StepMark, "owner" | "session">, by: string): Promise<boolean> {
  const rows = await db.rows(
    `INSERT INTO ${names.steps} AS s (migration, step, checksum, statement_checksum, started_by, done_at) VALUES ($1, $2, $3, $4, $5, now())
     ON CONFLICT (migration, step) DO UPDATE SET done_at = now() WHERE s.done_at IS NULL RETURNING step`,
    [mark.migration, mark.step, mark.fileChecksum, mark.statementChecksum, by],
  );
  return rows.length > 0;
}

/** `repair --retry`: forgets the step, started or done, so the next run sends it again. False when it had no row. */
export async function forgetStep(db: Reader, names: StateNames, migration: string, step: number): Promise<boolean> {
  return (await db.rows(`DELETE FROM ${names.steps} WHERE migration = $1 AND step = $2 RETURNING step`, [migration, step])).length > 0;
}

/**
 * The SQL that resolves a started step by hand (and what `pgkeel repair` runs):
 * `markDone` when the statement did take effect, `retry` to let the next run
 * send it again. Each is one statement on one row.
 */
export function resolveStepSql(names: StateNames, migration: string, step: number): { markDone: string; retry: string } {
  const where = `WHERE migration = ${quoteLiteral(migration)} AND step = ${step} AND done_at IS NULL`;
  return {
    markDone: `UPDATE ${names.steps} SET done_at = now() ${where};`,
    retry: `DELETE FROM ${names.steps} ${where};`,
  };
}
