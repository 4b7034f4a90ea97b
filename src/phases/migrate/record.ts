import { quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import { openTransaction, waitForMigrateLock } from "../transaction.js";
import type { Migration } from "./migration.js";

export interface Recorded {
  /** Recorded as applied by this call, in name order. */
  readonly recorded: readonly string[];
  /** Already recorded before (left as they were). */
  readonly already: readonly string[];
}

/**
 * Records migrations as applied without running them (baseline, adopt), with
 * their checksums, in one transaction under the lock migrations take, so no
 * runner applies one of them meanwhile. `check` sees the names already
 * recorded, under that lock, and may refuse by throwing. `by` says how the rows
 * came to be (kept in `applied_by`), e.g. "baseline".
 */
export async function recordAsApplied(
  c: PhaseContext,
  ms: readonly Migration[],
  by: string,
  check: (applied: ReadonlySet<string>) => void = () => {},
): Promise<Recorded> {
  await c.ready();
  const tag = `${by} by ${c.claims.owner}`;
  const names = ms.map((m) => m.name);
  const ours = async (db: { rows<R>(text: string, params?: readonly unknown[]): Promise<R[]> }) =>
    new Set((await db.rows<{ name: string }>(`SELECT name FROM ${c.names.migrations} WHERE applied_by = $1`, [tag])).map((r) => r.name));
  const result = (recorded: ReadonlySet<string>): Recorded => ({
    recorded: names.filter((n) => recorded.has(n)),
    already: names.filter((n) => !recorded.has(n)),
  });
  return c.gw.executeWithRetry<Recorded>({
    name: `record ${ms.length} migration(s) as applied (${by})`,
    run: async (ctx) => {
      await ctx.query([...openTransaction(c), ...waitForMigrateLock(c)].join(";\n"));
      const applied = new Set((await ctx.rows<{ name: string }>(`SELECT name FROM ${c.names.migrations}`)).map((r) => r.name));
      check(applied);
      const todo = ms.filter((m) => !applied.has(m.name));
      if (todo.length) {
        await ctx.query(
          `INSERT INTO ${c.names.migrations} (name, checksum, file_hash, transactional, duration_ms, applied_by)
           SELECT name, checksum, file_hash, transactional, 0, ${quoteLiteral(tag)} FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[]) AS t(name, checksum, file_hash, transactional)
           ON CONFLICT (name) DO NOTHING`,
          [todo.map((m) => m.name), todo.map((m) => m.checksum), todo.map((m) => m.fileHash), todo.map((m) => m.transactional)],
        );
      }
      await ctx.query("COMMIT");
      return result(new Set(todo.map((m) => m.name)));
    },
    // A lost COMMIT: the rows tagged with this runner are the ones it wrote.
    resolve: async (ctx) => {
      const mine = await ours(ctx);
      return mine.size ? { outcome: "committed", value: result(mine) } : { outcome: "not-committed" };
    },
  });
}
