import pg from "pg";
import { inject } from "vitest";

/**
 * Test-side helpers. They use node-postgres directly: they set up and inspect the
 * server, they are not pgkeel.
 */
export const serverUrl = (): string => inject("pgUrl");
export const bouncerUrl = (): string => inject("pgbouncerUrl");
export const bouncerSkip = (): string => inject("pgbouncerSkip");
export const tightBouncerUrl = (): string => inject("pgbouncerTightUrl");
/** PgBouncer with pool_mode = statement; empty when PgBouncer is missing (then bouncerSkip() says why). */
export const statementBouncerUrl = (): string => inject("pgbouncerStatementUrl");
/** The server's major version (12 to 18): PGKEEL_TEST_PG, default 18. */
export const serverMajor = (): number => inject("pgMajor");
export const authBouncerUrl = (): string => inject("pgbouncerAuthUrl");

let counter = 0;

/** A new empty database; returns its URL on the direct server. */
export async function freshDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`.toLowerCase();
  await admin(serverUrl(), `CREATE DATABASE "${name}"`);
  return withDatabase(serverUrl(), name);
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Runs SQL once on a fresh connection and returns the rows. */
export async function admin<R = Record<string, unknown>>(url: string, text: string, params?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end();
  }
}

/** Terminates every pgkeel session (application_name `pgkeel` or `pgkeel:<runner id>`) on the database of `url`; returns how many. */
export async function terminatePgkeelSessions(url: string): Promise<number> {
  const db = new URL(url).pathname.slice(1);
  const rows = await admin<{ n: string }>(
    withDatabase(serverUrl(), "postgres"),
    `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
      WHERE application_name ~ '^pgkeel(:|$)' AND datname = $1 AND pid <> pg_backend_pid()`,
    [db],
  );
  return Number(rows[0]?.n ?? 0);
}
