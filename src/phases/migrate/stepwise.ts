import { quoteLiteral } from "../../state/quote.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { isSafeToRepeat } from "../../sql/classify.js";
import type { Statement } from "../../sql/split.js";
import { isApplied, readSteps } from "../../state/migrations.js";
import type { PhaseContext } from "../context.js";
import { settleIndex } from "../indexes/settle.js";
import { withTimeouts } from "../session-settings.js";
import { placeError } from "./locate.js";
import type { SqlMigration } from "./migration.js";
import { stepDone, stepwiseTracking } from "./sql-text.js";

/**
 * A migration that cannot run in a transaction: statement by statement, each
 * completion recorded, under an expiring claim so one runner works it at a time.
 */
export async function applyStepwise(m: SqlMigration, c: PhaseContext): Promise<"applied" | "skipped"> {
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
      await c.gw.query(`record ${m.name}`, stepwiseTracking(m, c));
    },
    (holder) => c.emit({ type: "waiting", what: m.name, holder }),
  );
  return outcome.ran ? "applied" : "skipped";
}

async function runStep(m: SqlMigration, i: number, stmt: Statement, c: PhaseContext): Promise<void> {
  const done = stepDone(m, i, c);
  const record = (ctx: UnitContext) => ctx.query(done.text, done.params);
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

