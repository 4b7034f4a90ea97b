import type pg from "pg";
import { analyze } from "../../src/safety/analyze.js";
import { fromPgLocksMode, strongest } from "../../src/safety/locks.js";
import { rules } from "../../src/safety/rules/index.js";
import type { LockMode } from "../../src/safety/types.js";
import { mustRunOutsideTransaction } from "../../src/sql/classify.js";
import { client, gatewayFor, sqlMigration, until } from "./support.js";

/**
 * Watching a statement on a real server: the locks it takes (pg_locks, from a
 * second session) and the tables it rewrites (relfilenode). Used by the proof
 * tests on PostgreSQL 18 and by the version matrix (tests/matrix/safety.test.ts).
 */

export const everyRuleOn = { rules: Object.fromEntries(rules.filter((r) => r.hygiene).map((r) => [r.id, "warning" as const])) };

export interface Observed {
  /** Strongest lock per table of the schema, held or asked for. */
  readonly locks: Map<string, LockMode>;
  /** Tables whose relfilenode changed. */
  readonly rewritten: Set<string>;
  readonly tables: Set<string>;
  readonly error?: string;
}

const tablesSql = `SELECT c.relname, pg_relation_filenode(c.oid) AS node FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'm')`;
const locksSql = `SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                   WHERE l.pid = $1 AND l.locktype = 'relation' AND c.relnamespace = $2::regnamespace AND c.relkind IN ('r', 'p', 'm')`;

async function nodes(c: pg.Client, schema: string): Promise<Map<string, string>> {
  return new Map((await c.query<{ relname: string; node: string }>(tablesSql, [schema])).rows.map((r) => [r.relname, String(r.node)]));
}

async function locksOf(watcher: pg.Client, pid: number, schema: string): Promise<Map<string, LockMode>> {
  const out = new Map<string, LockMode>();
  for (const r of (await watcher.query<{ relname: string; mode: string }>(locksSql, [pid, schema])).rows) {
    const mode = fromPgLocksMode(r.mode)!;
    out.set(r.relname, out.has(r.relname) ? strongest(out.get(r.relname)!, mode) : mode);
  }
  return out;
}

/**
 * Runs `sql` in session A while session B watches. In a transaction: BEGIN,
 * the statement, read pg_locks, ROLLBACK. Outside one (CONCURRENTLY, VACUUM
 * FULL): session C holds a snapshot and ACCESS SHARE on every table, the
 * statement runs until it waits for C, B reads its locks there, C commits.
 */
export async function observe(target: { schema: string; url: string }, sql: string, how: "hold" | "wait", hold = "SELECT 1 FROM big LIMIT 1; SELECT 1 FROM ref LIMIT 1; SELECT 1 FROM events LIMIT 1"): Promise<Observed> {
  const [a, b] = [await client(target.url), await client(target.url)];
  try {
    const pid = (await a.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const before = await nodes(b, target.schema);
    const tables = new Set(before.keys());
    if (how === "hold") {
      await a.query("BEGIN");
      const error = await a.query(sql).then(() => undefined, (e: Error) => e.message);
      const locks = await locksOf(b, pid, target.schema);
      const after = error ? before : await nodes(a, target.schema);
      await a.query("ROLLBACK");
      return { locks, rewritten: changed(before, after), tables, error };
    }
    const c = await client(target.url);
    try {
      await c.query(`BEGIN ISOLATION LEVEL REPEATABLE READ; ${hold}`);
      let error: string | undefined;
      // A statement that fails releases its locks at once: it is watched while it waits instead.
      const inTransaction = !mustRunOutsideTransaction((await sqlMigration("watched", sql)).statements[0]!);
      if (inTransaction) await a.query("BEGIN");
      const run = a.query(sql).then(() => undefined, (e: Error) => (error = e.message));
      await until("the statement to wait for the open transaction", async () => (await b.query("SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted", [pid])).rowCount! > 0);
      const locks = await locksOf(b, pid, target.schema);
      await c.query("COMMIT");
      await run;
      if (inTransaction) await a.query("ROLLBACK");
      return { locks, rewritten: inTransaction ? new Set() : changed(before, await nodes(b, target.schema)), tables, error };
    } finally {
      await c.end();
    }
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

function changed(before: Map<string, string>, after: Map<string, string>): Set<string> {
  return new Set([...before].filter(([t, n]) => after.has(t) && after.get(t) !== n).map(([t]) => t));
}

/** Outside a transaction, the statements that wait for older transactions (where their locks can be seen); plain VACUUM does not. */
export function waitsForOthers(s: { kind: string; node: Record<string, unknown> }): boolean {
  if (s.kind !== "VacuumStmt") return true;
  return ((s.node.options as { DefElem?: { defname?: string } }[] | undefined) ?? []).some((o) => o.DefElem?.defname === "full");
}

export async function judge(target: { url: string }, sql: string, name = "001_case") {
  const gw = gatewayFor(target.url);
  try {
    return await analyze([await sqlMigration(name, sql)], gw, everyRuleOn);
  } finally {
    await gw.close();
  }
}

export function claimed(locks: readonly { table: string; mode: LockMode }[], existing: Set<string>): Map<string, LockMode> {
  const out = new Map<string, LockMode>();
  for (const l of locks) if (existing.has(l.table)) out.set(l.table, out.has(l.table) ? strongest(out.get(l.table)!, l.mode) : l.mode);
  return out;
}

