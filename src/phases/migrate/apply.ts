import { classify } from "../../gateway/classify.js";
import { DatabaseError, InputError, PgkeelError } from "../../gateway/errors.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { isSafeToRepeat } from "../../sql/classify.js";
import type { Statement } from "../../sql/split.js";
import { appliedAmong, isApplied, readSteps } from "../../state/migrations.js";
import { raiseIf } from "../../state/guard.js";
import { quoteLiteral } from "../../state/quote.js";
import { xactLock } from "../../state/schema.js";
import type { PhaseContext } from "../context.js";
import { settleIndex } from "../indexes/settle.js";
import { withTimeouts } from "../session-settings.js";
import { migrationDb } from "./code-db.js";
import type { CodeMigration, Migration, SqlMigration } from "./migration.js";

/** SQLSTATE pgkeel raises inside a migration's transaction when another runner applied it first. */
const alreadyApplied = "PGK01";

/** How one migration ended for this run. */
export interface Outcome {
  readonly name: string;
  readonly by: "this-run" | "another-runner";
  /** Time inside its transaction, measured by the server. */
  readonly ms: number;
}

/** Most migrations sent in one message, and most characters. */
export const batchLimits = { migrations: 100, chars: 1_000_000 };

/** Applies a code migration, or a migration that cannot run in a transaction, exactly once. */
export async function applyMigration(m: Migration, c: PhaseContext): Promise<"applied" | "skipped"> {
  if (!m.transactional) return applyStepwise(m as SqlMigration, c);
  if (m.kind === "sql") return (await applyBatch([m], c))[0]!.by === "this-run" ? "applied" : "skipped";
  try {
    await c.gw.executeWithRetry({
      name: m.name,
      run: (ctx) => runCode(m, ctx, c),
      resolve: async (ctx) =>
        (await isApplied(ctx, c.names, m.name)) ? { outcome: "committed", value: undefined } : { outcome: "not-committed" },
    });
    return "applied";
  } catch (e) {
    if (e instanceof DatabaseError && e.sqlstate === alreadyApplied) return "skipped";
    throw await placeError(e, m, c);
  }
}

/**
 * Applies transactional SQL migrations, several in one message: each in its own
 * transaction, with its own lock, check and tracking row, so the message costs
 * one round trip and the guarantees stay per migration. The server stops at the
 * first error; what committed before it (or before a lost connection) is read
 * back from the tracking rows, and only the rest is sent again.
 */
export async function applyBatch(batch: readonly SqlMigration[], c: PhaseContext): Promise<Outcome[]> {
  const done = new Map<string, Outcome>();
  let remaining = [...batch];
  let lastSent: BatchText | undefined;
  const settle = (rows: Map<string, { by: string | null; durationMs: number }>) => {
    for (const [name, row] of rows) {
      if (!done.has(name)) done.set(name, { name, by: row.by === c.claims.owner ? "this-run" : "another-runner", ms: row.durationMs });
    }
    remaining = remaining.filter((m) => !done.has(m.name));
  };
  const readBack = async (ctx: UnitContext) => settle(await appliedAmong(ctx, c.names, remaining.map((m) => m.name)));

  while (remaining.length) {
    try {
      await c.gw.executeWithRetry({
        name: unitName(remaining),
        run: async (ctx) => {
          // A retried message (after a lock timeout, say) may have committed its first migrations.
          if (ctx.attempt > 1) await readBack(ctx);
          if (!remaining.length) return;
          lastSent = batchText(remaining, c);
          const results = await ctx.query(lastSent.text);
          settle(
            new Map(
              results.flatMap((r) => r.rows).filter((row) => "pgkeel_applied" in row)
                .map((row) => [String(row.pgkeel_applied), { by: c.claims.owner, durationMs: Number(row.duration_ms) }]),
            ),
          );
        },
        resolve: async (ctx) => {
          await readBack(ctx);
          return remaining.length ? { outcome: "not-committed" } : { outcome: "committed", value: undefined };
        },
      });
    } catch (e) {
      if (!(e instanceof DatabaseError)) throw e;
      await c.gw.executeWithRetry({ name: "read back applied migrations", run: readBack });
      // Another runner applied the next one first: carry on with the rest.
      if (e.sqlstate === alreadyApplied) continue;
      const failed = remaining[0];
      if (!failed) throw e;
      throw await placeError(e, failed, c, { spans: lastSent?.spans.filter((s) => s.migration === failed) });
    }
  }
  return batch.map((m) => done.get(m.name)!);
}

function unitName(ms: readonly Migration[]): string {
  return ms.length === 1 ? ms[0]!.name : `${ms[0]!.name} .. ${ms[ms.length - 1]!.name} (${ms.length} migrations)`;
}

/**
 * The start of a migration's transaction. Runners queue on a transaction-level
 * advisory lock (no lock_timeout on that wait: the holder is applying a migration,
 * and its lock ends with its transaction even if it dies), then the transaction
 * checks that no runner applied this migration meanwhile.
 */
function transactionHeader(m: Migration, c: PhaseContext): string {
  return [
    "BEGIN",
    "SET LOCAL lock_timeout = 0",
    xactLock(c.names.schema, "migrate"),
    `SET LOCAL lock_timeout = ${quoteLiteral(m.directives.lockTimeout ?? c.lockTimeout)}`,
    ...(m.directives.statementTimeout ? [`SET LOCAL statement_timeout = ${quoteLiteral(m.directives.statementTimeout)}`] : []),
    raiseIf(m.name, `EXISTS (SELECT 1 FROM ${c.names.migrations} WHERE name = ${quoteLiteral(m.name)})`, alreadyApplied, "migration already applied by another runner"),
    "",
  ].join(";\n");
}

function trackingInsert(m: Migration, c: PhaseContext, transactional: boolean): string {
  return `INSERT INTO ${c.names.migrations} (name, checksum, transactional, duration_ms, applied_by)
VALUES (${quoteLiteral(m.name)}, ${quoteLiteral(m.checksum)}, ${transactional}, (extract(epoch FROM clock_timestamp() - now()) * 1000)::int, ${quoteLiteral(c.claims.owner)})`;
}

interface Span {
  /** Character offset of the statement in the message. */
  readonly at: number;
  readonly migration: SqlMigration;
  readonly stmt: Statement;
}

interface BatchText {
  readonly text: string;
  readonly spans: readonly Span[];
}

/** Migrations as one message; `spans` maps server error positions back to files. */
export function batchText(ms: readonly SqlMigration[], c: PhaseContext): BatchText {
  let text = "";
  const spans: Span[] = [];
  for (const m of ms) {
    text += transactionHeader(m, c);
    for (const stmt of m.statements) {
      spans.push({ at: text.length, migration: m, stmt });
      // The newline ends a trailing line comment before the semicolon.
      text += `${stmt.text}\n;\n`;
    }
    text += `${trackingInsert(m, c, true)} RETURNING name AS pgkeel_applied, duration_ms;\nCOMMIT;\n`;
  }
  return { text, spans };
}

async function runCode(m: CodeMigration, ctx: UnitContext, c: PhaseContext): Promise<void> {
  await ctx.query(transactionHeader(m, c));
  await m.up(migrationDb(ctx, m.file));
  await ctx.query(`${trackingInsert(m, c, true)};\nCOMMIT`);
}

/**
 * A migration that cannot run in a transaction: statement by statement, each
 * completion recorded, under an expiring claim so one runner works it at a time.
 */
async function applyStepwise(m: SqlMigration, c: PhaseContext): Promise<"applied" | "skipped"> {
  const outcome = await c.claims.withClaim(
    `migration:${m.name}`,
    () => c.gw.executeWithRetry({ name: `check ${m.name}`, run: (ctx) => isApplied(ctx, c.names, m.name) }),
    async () => {
      const done = await readSteps(c.gw, c.names, m.name);
      for (const [i, stmt] of m.statements.entries()) {
        if (done.has(i)) continue;
        const t = performance.now();
        await runStep(m, i, stmt, c);
        c.emit({ type: "statement-applied", migration: m.name, index: i, ms: Math.round(performance.now() - t) });
      }
      await c.gw.query(`record ${m.name}`, `${trackingInsert(m, c, false)} ON CONFLICT (name) DO NOTHING`);
    },
    (holder) => c.emit({ type: "waiting", what: m.name, holder }),
  );
  return outcome.ran ? "applied" : "skipped";
}

async function runStep(m: SqlMigration, i: number, stmt: Statement, c: PhaseContext): Promise<void> {
  const record = (ctx: UnitContext) =>
    ctx.query(
      `INSERT INTO ${c.names.steps} (migration, step, checksum) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [m.name, i, m.checksum],
    );
  let statementFinished = false;
  try {
    await c.gw.executeWithRetry({
      name: `${m.name} statement ${i + 1} (${m.file}:${stmt.line})`,
      run: async (ctx) => {
        // An index step left by a crashed run may have finished, or left an INVALID leftover.
        if (!statementFinished && stmt.kind === "IndexStmt" && (await stepOutcome(ctx, stmt, m, c)) === "committed") {
          statementFinished = true;
        }
        if (!statementFinished) {
          // Outside a transaction SET LOCAL cannot carry the file's directives: set them on the session.
          const timeouts = { statement_timeout: m.directives.statementTimeout, lock_timeout: m.directives.lockTimeout };
          await withTimeouts(ctx, c, timeouts, `${m.file}:${stmt.line}`, () => ctx.query(stmt.text));
          statementFinished = true;
        }
        await record(ctx);
      },
      resolve: async (ctx) => {
        const outcome = statementFinished ? "committed" : await stepOutcome(ctx, stmt, m, c);
        if (outcome === "committed") {
          await record(ctx);
          return { outcome, value: undefined };
        }
        if (outcome === "not-committed") return { outcome };
        return {
          outcome: "unknown",
          detail: `the connection was lost while ${m.file}:${stmt.line}:${stmt.column} ran, and pgkeel cannot tell from the catalog whether it took effect. Check the database; if it did, record it with: INSERT INTO ${c.names.steps} (migration, step, checksum) VALUES (${quoteLiteral(m.name)}, ${i}, ${quoteLiteral(m.checksum)})`,
        };
      },
    });
  } catch (e) {
    throw await placeError(e, m, c, { stmt });
  }
}

/** What the catalog says about a statement whose outcome was lost with its connection. */
async function stepOutcome(
  ctx: UnitContext,
  stmt: Statement,
  m: SqlMigration,
  c: PhaseContext,
): Promise<"committed" | "not-committed" | "unknown"> {
  if (stmt.kind === "IndexStmt" && typeof stmt.node.idxname === "string") {
    const rel = stmt.node.relation as { schemaname?: string } | undefined;
    const ref = { schema: rel?.schemaname, name: stmt.node.idxname };
    const state = await settleIndex(ctx, ref, () =>
      c.emit({ type: "waiting", what: `${m.name}: index ${ref.name}`, holder: "a build still running in another session" }),
    );
    return state === "valid" ? "committed" : "not-committed";
  }
  return isSafeToRepeat(stmt) ? "not-committed" : "unknown";
}

/** Puts a failure in the user's file: the statement, line and column where it can be found. */
async function placeError(
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
