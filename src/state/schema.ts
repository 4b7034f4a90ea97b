import type { Gateway } from "../gateway/gateway.js";
import { quoteIdent, quoteLiteral } from "./quote.js";

/** Names of pgkeel's own tables in its schema. */
export interface StateNames {
  readonly schema: string;
  readonly migrations: string;
  readonly steps: string;
  readonly claims: string;
  /** The sequence claims draw their fencing tokens (generations) from. */
  readonly claimGenerations: string;
  readonly indexBuilds: string;
  readonly backfills: string;
  /** A backfill's key ranges, each claimed, walked and checkpointed on its own. */
  readonly backfillRanges: string;
  /** The workers of running backfills, as they last reported (for status). */
  readonly backfillWorkers: string;
}

export function stateNames(schema: string): StateNames {
  const s = quoteIdent(schema);
  return { schema, migrations: `${s}.migrations`, steps: `${s}.migration_steps`, claims: `${s}.claims`, claimGenerations: `${s}.claim_generations`, indexBuilds: `${s}.index_builds`, backfills: `${s}.backfills`, backfillRanges: `${s}.backfill_ranges`, backfillWorkers: `${s}.backfill_workers` };
}

/**
 * A transaction-level advisory lock: it ends with its transaction, so it is safe
 * behind a transaction-mode pooler and a dead runner cannot strand it.
 */
export function xactLock(schema: string, purpose: string): string {
  return `SELECT ${xactLockCall(schema, purpose)}`;
}

/** xactLock's call alone, for PL/pgSQL (`PERFORM ...`). */
export function xactLockCall(schema: string, purpose: string): string {
  return `pg_advisory_xact_lock(hashtextextended(${quoteLiteral(`pgkeel:${schema}:${purpose}`)}, 0))`;
}

/**
 * Which of pgkeel's tables (and of the columns added since its first release) do
 * not exist yet: a table by its name, a column as `table.column`. Reads only:
 * `status`, `plan` and `doctor` use it, and must work with a read-only role or on
 * a replica.
 */
export async function missingState(gw: Gateway, names: StateNames): Promise<string[]> {
  const tables = [names.migrations, names.steps, names.claims, names.claimGenerations, names.indexBuilds, names.backfills, names.backfillRanges, names.backfillWorkers];
  // A database made by an older pgkeel gets these when it is next written to.
  const columns: [string, string][] = [[names.steps, "started_at"], [names.claims, "generation"], [names.backfills, "paused"], [names.migrations, "file_hash"]];
  const rows = await gw.query<{ name: string }>(
    "check pgkeel state",
    `SELECT t.name FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NULL
     UNION ALL
     SELECT c.tbl || '.' || c.col FROM unnest($2::text[], $3::text[]) AS c(tbl, col)
      WHERE to_regclass(c.tbl) IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(c.tbl) AND a.attname = c.col AND NOT a.attisdropped)`,
    [tables, columns.map((c) => c[0]), columns.map((c) => c[1])],
  );
  return rows.map((r) => r.name);
}

/** Creates pgkeel's schema and tables when any is missing. Safe when many runners start at once. */
export async function ensureState(gw: Gateway, names: StateNames): Promise<void> {
  if ((await missingState(gw, names)).length === 0) return;
  await gw.query(
    "create pgkeel state",
    // One message, no BEGIN or COMMIT: the server runs it as one implicit transaction,
    // so an error (no CREATE privilege, say) arrives as itself even through a statement-mode pooler.
    [
      // Stated, not inherited from the role or database: no snapshot older than the lock,
      // and no statement_timeout or lock_timeout on the wait behind another runner.
      "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
      "SET LOCAL lock_timeout = 0",
      "SET LOCAL statement_timeout = 0",
      xactLock(names.schema, "state"),
      `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(names.schema)}`,
      `CREATE TABLE IF NOT EXISTS ${names.migrations} (
         name text PRIMARY KEY,
         checksum text NOT NULL,
         transactional boolean NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         duration_ms integer NOT NULL DEFAULT 0,
         applied_by text)`,
      // Hash of the checksum and the applied file's bytes: a file that still has them need not be parsed again (null: not known).
      `ALTER TABLE ${names.migrations} ADD COLUMN IF NOT EXISTS file_hash text`,
      // One row per statement of a non-transactional migration (step = its 0-based index):
      // started (done_at NULL) before it is sent, done after. Resolving a step by hand is
      // one UPDATE (mark done) or one DELETE (run it again), see src/state/steps.ts.
      `CREATE TABLE IF NOT EXISTS ${names.steps} (
         migration text NOT NULL,
         step integer NOT NULL,
         checksum text NOT NULL,
         done_at timestamptz DEFAULT now(),
         PRIMARY KEY (migration, step))`,
      `ALTER TABLE ${names.steps} ALTER COLUMN done_at DROP NOT NULL,
         ADD COLUMN IF NOT EXISTS statement_checksum text,
         ADD COLUMN IF NOT EXISTS started_at timestamptz,
         ADD COLUMN IF NOT EXISTS started_by text,
         ADD COLUMN IF NOT EXISTS session text`,
      // Fencing tokens: a takeover draws a new generation, never reused, even after a release.
      `CREATE SEQUENCE IF NOT EXISTS ${names.claimGenerations}`,
      `CREATE TABLE IF NOT EXISTS ${names.claims} (
         key text PRIMARY KEY,
         owner text NOT NULL,
         expires_at timestamptz NOT NULL)`,
      `ALTER TABLE ${names.claims} ADD COLUMN IF NOT EXISTS generation bigint NOT NULL DEFAULT nextval(${quoteLiteral(names.claimGenerations)})`,
      // One row per index build started: history for people, a build counter for tests.
      `CREATE TABLE IF NOT EXISTS ${names.indexBuilds} (
         index_name text NOT NULL,
         owner text NOT NULL,
         started_at timestamptz NOT NULL DEFAULT now())`,
      // A backfill's checkpoint: the last key of the last committed batch, as text.
      `CREATE TABLE IF NOT EXISTS ${names.backfills} (
         name text PRIMARY KEY,
         position text,
         rows_done bigint NOT NULL DEFAULT 0,
         batches integer NOT NULL DEFAULT 0,
         done boolean NOT NULL DEFAULT false,
         started_at timestamptz NOT NULL DEFAULT now(),
         finished_at timestamptz)`,
      // Pause state lives here so any shell can set it (pgkeel backfill --pause NAME); the row
      // estimate is the one read when the key space was split, for ETAs in status.
      `ALTER TABLE ${names.backfills} ADD COLUMN IF NOT EXISTS paused boolean NOT NULL DEFAULT false,
         ADD COLUMN IF NOT EXISTS estimated_rows bigint`,
      // Key ranges: (lo, hi], NULL meaning unbounded; position is the last key of the range's
      // last committed batch (lo until the first). Each is walked under its own claim.
      `CREATE TABLE IF NOT EXISTS ${names.backfillRanges} (
         backfill text NOT NULL,
         range integer NOT NULL,
         lo text,
         hi text,
         position text,
         rows_done bigint NOT NULL DEFAULT 0,
         batches integer NOT NULL DEFAULT 0,
         done boolean NOT NULL DEFAULT false,
         PRIMARY KEY (backfill, range))`,
      // What each worker last said (about once a second): for status, never for correctness.
      `CREATE TABLE IF NOT EXISTS ${names.backfillWorkers} (
         backfill text NOT NULL,
         worker text NOT NULL,
         state text NOT NULL,
         reason text,
         range integer,
         rows_per_second real NOT NULL DEFAULT 0,
         seen_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (backfill, worker))`,
    ].join(";\n"),
  );
}
