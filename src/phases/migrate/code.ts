import { DatabaseError } from "../../errors.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { appliedAmong } from "../../state/migrations.js";
import type { PhaseContext } from "../context.js";
import { migrationDb } from "./code-db.js";
import { placeError } from "./locate.js";
import type { CodeMigration } from "./migration.js";
import { alreadyApplied, trackingInsert, transactionHeader } from "./sql-text.js";

/** Applies a code migration in one transaction, exactly once. */
export async function applyCode(m: CodeMigration, c: PhaseContext): Promise<"applied" | "skipped"> {
  try {
    return await c.gw.executeWithRetry<"applied" | "skipped">({
      name: m.name,
      run: async (ctx) => {
        await runCode(m, ctx, c);
        return "applied";
      },
      // A lost COMMIT, or a transaction the server cut off (idle too long): the tracking row says
      // whether it committed, and whether it was this runner's or another's that went on meanwhile.
      resolve: async (ctx) => {
        const row = (await appliedAmong(ctx, c.names, [m.name])).get(m.name);
        return row ? { outcome: "committed", value: row.by === c.claims.owner ? "applied" : "skipped" } : { outcome: "not-committed" };
      },
    });
  } catch (e) {
    if (e instanceof DatabaseError && e.sqlstate === alreadyApplied) return "skipped";
    throw await placeError(e, m, c);
  }
}

async function runCode(m: CodeMigration, ctx: UnitContext, c: PhaseContext): Promise<void> {
  await ctx.query(transactionHeader(m, c));
  await m.up(migrationDb(ctx, m.file));
  await ctx.query(`${trackingInsert(m, c, true)};\nCOMMIT`);
}

