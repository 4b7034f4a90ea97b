import { DatabaseError } from "../../errors.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { isApplied } from "../../state/migrations.js";
import type { PhaseContext } from "../context.js";
import { migrationDb } from "./code-db.js";
import { placeError } from "./locate.js";
import type { CodeMigration } from "./migration.js";
import { alreadyApplied, trackingInsert, transactionHeader } from "./sql-text.js";

/** Applies a code migration in one transaction, exactly once. */
export async function applyCode(m: CodeMigration, c: PhaseContext): Promise<"applied" | "skipped"> {
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

async function runCode(m: CodeMigration, ctx: UnitContext, c: PhaseContext): Promise<void> {
  await ctx.query(transactionHeader(m, c));
  await m.up(migrationDb(ctx, m.file));
  await ctx.query(`${trackingInsert(m, c, true)};\nCOMMIT`);
}

