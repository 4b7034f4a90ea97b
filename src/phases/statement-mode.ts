import { UsageError } from "../errors.js";
import type { UnitContext } from "../gateway/gateway.js";
import { appliedAmong } from "../state/migrations.js";
import type { Backfill } from "./backfill/declared.js";
import type { PhaseContext } from "./context.js";
import type { MigrationFile } from "./migrate/migration.js";

/**
 * A statement-mode pooler (PgBouncer `pool_mode = statement`) closes any client
 * whose message ends inside a transaction, so no transaction may span round
 * trips. A code migration (BEGIN, then up(db)'s queries, then COMMIT) and a code
 * backfill's batches need exactly that. Refuses every pending one at once,
 * before anything changes. What pgkeel sends in one message (SQL migrations,
 * SQL backfill batches, its own bookkeeping) and what runs outside a
 * transaction (no-transaction statements, index builds) runs there as anywhere.
 * Costs nothing when there is no code unit: the pooler is probed only then.
 */
export async function refuseWhatStatementModeCannotRun(
  c: PhaseContext,
  work: { readonly migrations?: readonly MigrationFile[]; readonly backfills?: readonly Backfill[] },
): Promise<void> {
  const codeMigrations = (work.migrations ?? []).filter((m) => m.kind === "code");
  const codeBackfills = (work.backfills ?? []).filter((b) => b.kind === "code");
  if (!codeMigrations.length && !codeBackfills.length) return;
  if ((await c.pooler()) !== "statement") return;
  const done = await c.gw.executeWithRetry({
    name: "read which code units are done",
    run: (db) => doneAmong(db, c, codeMigrations.map((m) => m.name), codeBackfills.map((b) => b.name)),
  });
  const files = [
    ...codeMigrations.filter((m) => !done.has(m.name)).map((m) => `${m.file} (code migration)`),
    ...codeBackfills.filter((b) => !done.has(b.name)).map((b) => `${b.file} (code backfill)`),
  ];
  if (!files.length) return;
  throw new UsageError(
    `the URL goes through a pooler in statement mode, which closes a connection whose transaction spans more than one message; ` +
      `these need such a transaction: ${files.join(", ")}. Nothing was changed. ` +
      `Run them through a transaction-mode pooler or directly (a direct URL with --url, or --via NAME for one in the config's urls); ` +
      `SQL migrations, SQL backfills and index builds can run through this URL.`,
  );
}

/** Names among these that are applied or finished; reads only, and nothing is done where pgkeel's tables are not yet created. */
async function doneAmong(db: UnitContext, c: PhaseContext, migrations: string[], backfills: string[]): Promise<Set<string>> {
  const [state] = await db.rows<{ ready: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ready",
    [c.names.migrations, c.names.backfills],
  );
  if (!state?.ready) return new Set();
  const finished = await db.rows<{ name: string }>(`SELECT name FROM ${c.names.backfills} WHERE done AND name = ANY ($1::text[])`, [backfills]);
  return new Set([...(await appliedAmong(db, c.names, migrations)).keys(), ...finished.map((r) => r.name)]);
}
