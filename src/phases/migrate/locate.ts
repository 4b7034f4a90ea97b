import { classify } from "../../gateway/classify.js";
import { DatabaseError, InputError, PgkeelError } from "../../errors.js";
import type { Statement } from "../../sql/split.js";
import type { PhaseContext } from "../context.js";
import { sentText, type Migration, type SqlMigration } from "./migration.js";
import { transactionHeader, type BatchText, type Span } from "./sql-text.js";

/** A failure found in a message: the statement it names, and the error's offset in it if the server gave one. */
export interface FoundSpan {
  readonly span: Span;
  readonly offset?: number;
}

/**
 * Which statement of the message `sent` the error came from, without running
 * anything again: by the server's error position, else by how many statements
 * completed before it (what the driver counted). Undefined when neither is known.
 */
export function failedSpan(e: DatabaseError, sent: BatchText): FoundSpan | undefined {
  const pos = e.details.position;
  if (pos !== undefined) {
    const span = [...sent.spans].reverse().find((s) => s.at <= pos - 1);
    if (span) return { span, offset: pos - 1 - span.at };
  }
  const span = e.details.completed === undefined ? undefined : sent.spans[e.details.completed];
  return span && { span };
}

/** The error placed at the statement found in the message (the file alone for one of pgkeel's own statements). */
export function placeAt(e: DatabaseError, found: FoundSpan): DatabaseError {
  const { migration: m, stmt } = found.span;
  if (!stmt) return e.at({ file: m.file });
  return e.at({ file: m.file, ...m.source.lineCol(stmt.start + Math.max(0, found.offset ?? 0)) });
}

/** Puts a failure in the user's file: the statement, line and column where it can be found. */
export async function placeError(e: unknown, m: Migration, c: PhaseContext, where: { stmt?: Statement } = {}): Promise<unknown> {
  if (e instanceof DatabaseError) {
    if (m.kind === "code") return e.at({ file: m.file });
    const at = (stmt: Statement, offset: number) => e.at({ file: m.file, ...m.source.lineCol(stmt.start + Math.max(0, offset)) });
    if (where.stmt) return at(where.stmt, (e.details.position ?? 1) - 1);
    const found = await locateFailure(m, c).catch(() => undefined);
    if (found) return at(found.stmt, found.position === undefined ? 0 : found.position - 1);
    return e.at({ file: m.file });
  }
  if (e instanceof PgkeelError) return e;
  return new InputError({ file: m.file }, e instanceof Error ? e.message : String(e));
}

/**
 * Only where the driver cannot count the statements a failed message completed
 * (the embedded PGlite): the statements run once more one by one, in a transaction
 * that is always rolled back, under the very header the migration ran with (the
 * migrate lock, its lock_timeout and statement_timeout), to find the one that fails.
 */
async function locateFailure(m: SqlMigration, c: PhaseContext): Promise<{ stmt: Statement; position?: number } | undefined> {
  return c.gw.executeWithRetry({
    name: `locate the failing statement of ${m.name}`,
    run: async (ctx) => {
      await ctx.query(transactionHeader(m, c));
      try {
        for (const [i, stmt] of m.statements.entries()) {
          try {
            await ctx.query(sentText(m, i));
          } catch (err) {
            if (classify(err).kind !== "fatal") throw err;
            const p = (err as { position?: string }).position;
            return { stmt, position: p ? Number(p) : undefined };
          }
        }
        return undefined;
      } finally {
        await ctx.query("ROLLBACK");
      }
    },
  });
}
