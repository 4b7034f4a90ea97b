import type { Backfill } from "./backfill/declared.js";
import type { PhaseContext } from "./context.js";
import type { DeclaredIndex } from "./indexes/declared.js";
import { indexStatus } from "./indexes/phase.js";
import { doneBackfills } from "./migrate/after-backfill.js";
import type { DryRunMessage } from "./migrate/dry-run.js";

/**
 * The indexes and backfills `run` would work on, after the migrations. Index
 * builds are the exact statements; a backfill's batches depend on the keys
 * found as it goes, so its statement is shown with :from and :to unbound.
 */
export async function dryRunLaterPhases(c: PhaseContext, indexes: readonly DeclaredIndex[], backfills: readonly Backfill[]): Promise<DryRunMessage[]> {
  const out: DryRunMessage[] = [];
  for (const s of await indexStatus(c.gw, indexes)) {
    if (s.state === "valid" || s.state === "changed") continue;
    const idx = indexes.find((i) => i.ref.name === s.name)!;
    out.push({ unit: `index ${s.name} (${s.state}; ${idx.file}:${idx.line}, no transaction, under a claim)`, sql: `${idx.buildSql()};` });
  }
  const done = await doneBackfills(c, backfills.map((b) => b.name));
  for (const b of backfills) {
    if (done.has(b.name)) continue;
    const sql = b.kind === "sql" ? b.pieces.map((p) => (typeof p === "string" ? p : `:${p.param}`)).join("") : "-- run(tx, range) from the code file";
    out.push({
      unit: `backfill ${b.name} (${b.file}): batches of up to ${b.batch} keys of ${b.table}, each in its own transaction with its checkpoint; :from and :to are each batch's first and last key`,
      sql: `${sql};`,
    });
  }
  return out;
}
