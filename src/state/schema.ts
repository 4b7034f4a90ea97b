import type { Gateway } from "../gateway/gateway.js";
import { quoteIdent, quoteLiteral } from "./quote.js";

/** Names of pgkeel's own tables in its schema. */
export interface StateNames {
  readonly schema: string;
  readonly migrations: string;
  readonly steps: string;
  readonly claims: string;
  readonly indexBuilds: string;
  readonly backfills: string;
}

export function stateNames(schema: string): StateNames {
  const s = quoteIdent(schema);
  return { schema, migrations: `${s}.migrations`, steps: `${s}.migration_steps`, claims: `${s}.claims`, indexBuilds: `${s}.index_builds`, backfills: `${s}.backfills` };
}

/**
 * A transaction-level advisory lock: it ends with its transaction, so it is safe
 * behind a transaction-mode pooler and a dead runner cannot strand it.
 */
export function xactLock(schema: string, purpose: string): string {
  return `SELECT pg_advisory_xact_lock(hashtextextended(${quoteLiteral(`pgkeel:${schema}:${purpose}`)}, 0))`;
}

/**
 * Which of pgkeel's tables do not exist yet. Reads only: `status`, `plan` and
 * `doctor` use it, and must work with a read-only role or on a replica.
 */
export async function missingState(gw: Gateway, names: StateNames): Promise<string[]> {
  const tables = [names.migrations, names.steps, names.claims, names.indexBuilds, names.backfills];
  const rows = await gw.query<{ name: string }>(
    "check pgkeel state",
    `SELECT t.name FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NULL`,
    [tables],
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
      xactLock(names.schema, "state"),
      `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(names.schema)}`,
      `CREATE TABLE IF NOT EXISTS ${names.migrations} (
         name text PRIMARY KEY,
         checksum text NOT NULL,
         transactional boolean NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         duration_ms integer NOT NULL DEFAULT 0,
         applied_by text)`,
      `CREATE TABLE IF NOT EXISTS ${names.steps} (
         migration text NOT NULL,
         step integer NOT NULL,
         checksum text NOT NULL,
         done_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (migration, step))`,
      `CREATE TABLE IF NOT EXISTS ${names.claims} (
         key text PRIMARY KEY,
         owner text NOT NULL,
         expires_at timestamptz NOT NULL)`,
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
    ].join(";\n"),
  );
}
