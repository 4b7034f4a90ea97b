import { classify } from "../../gateway/classify.js";
import { DatabaseError, InputError, PgkeelError } from "../../errors.js";
import type { Statement } from "../../sql/split.js";
import { quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import type { Migration, SqlMigration } from "./migration.js";
import type { Span } from "./sql-text.js";

/** Puts a failure in the user's file: the statement, line and column where it can be found. */
export async function placeError(
  e: unknown,
  m: Migration,
  c: PhaseContext,
  where: { stmt?: Statement; spans?: readonly Span[] } = {},
): Promise<unknown> {
  if (e instanceof DatabaseError) {
    if (m.kind === "code") return e.at({ file: m.file });
    const pos = e.details.position;
    const at = (stmt: Statement, offset: number) => e.at({ file: m.file, ...m.source.lineCol(stmt.start + Math.max(0, offset)) });
    if (where.stmt) return at(where.stmt, (pos ?? 1) - 1);
    const span = pos === undefined ? undefined : [...(where.spans ?? [])].reverse().find((s) => s.at <= pos - 1);
    if (span && pos !== undefined) return at(span.stmt, pos - 1 - span.at);
    const found = await locateFailure(m, c).catch(() => undefined);
    if (found) return at(found.stmt, found.position === undefined ? 0 : found.position - 1);
    return e.at({ file: m.file });
  }
  if (e instanceof PgkeelError) return e;
  return new InputError({ file: m.file }, e instanceof Error ? e.message : String(e));
}

/**
 * The server does not say which statement of a multi-statement message failed.
 * When the error has no position, the statements run once more one by one in a
 * transaction that is always rolled back, to find the one that fails.
 */
async function locateFailure(m: SqlMigration, c: PhaseContext): Promise<{ stmt: Statement; position?: number } | undefined> {
  return c.gw.executeWithRetry({
    name: `locate the failing statement of ${m.name}`,
    run: async (ctx) => {
      await ctx.query(`BEGIN; SET LOCAL lock_timeout = ${quoteLiteral(m.directives.lockTimeout ?? c.lockTimeout)}`);
      try {
        for (const stmt of m.statements) {
          try {
            await ctx.query(stmt.text);
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
