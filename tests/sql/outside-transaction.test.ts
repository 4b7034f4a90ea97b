import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRunOutsideTransaction } from "../../src/sql/classify.js";
import { parseSqlFile } from "../../src/sql/split.js";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * The statements PostgreSQL refuses inside a transaction block, from its
 * documentation ("cannot be executed inside a transaction block") and the
 * statement names its binary passes to PreventInTransactionBlock. Each is tried
 * on the real server: inside BEGIN it must be refused with that error, outside
 * it must not be, and pgkeel must classify it as needing to run outside (issue
 * 8 item 12). A statement missing from pgkeel's classification fails here.
 */
const unreachable = "host=127.0.0.1 port=1 dbname=none connect_timeout=1";
let seq = 0;
const fresh = (prefix: string) => `${prefix}_${process.pid}_${seq++}`;

/** [statement, what outside a transaction block does here: "ok", or "fails" for another reason (no publisher to reach)] */
const refused: [string, "ok" | "fails"][] = [
  [`CREATE DATABASE ${fresh("cls_db")}`, "ok"],
  [`DROP DATABASE IF EXISTS ${fresh("cls_nodb")}`, "ok"],
  ["ALTER DATABASE cls_spare SET TABLESPACE pg_default", "ok"],
  ["CREATE TABLESPACE cls_ts LOCATION ''", "ok"],
  ["DROP TABLESPACE IF EXISTS cls_nots", "ok"],
  ["ALTER SYSTEM SET work_mem = '4MB'", "ok"],
  ["ALTER SYSTEM RESET work_mem", "ok"],
  ["VACUUM t", "ok"],
  ["VACUUM", "ok"],
  ["VACUUM FULL t", "ok"],
  ["VACUUM ANALYZE t", "ok"],
  ["VACUUM (ANALYZE, VERBOSE false) t", "ok"],
  ["CLUSTER", "ok"],
  ["REINDEX SCHEMA public", "ok"],
  ["REINDEX SYSTEM", "ok"],
  ["REINDEX DATABASE", "ok"],
  ["REINDEX TABLE CONCURRENTLY t", "ok"],
  ["REINDEX INDEX CONCURRENTLY t_v_idx", "ok"],
  ["REINDEX (CONCURRENTLY) SCHEMA public", "ok"],
  ["REINDEX (CONCURRENTLY true, VERBOSE) TABLE t", "ok"],
  ["CREATE INDEX CONCURRENTLY t_cic ON t (v)", "ok"],
  ["DROP INDEX CONCURRENTLY IF EXISTS t_nothing", "ok"],
  ["ALTER TABLE p DETACH PARTITION p3 CONCURRENTLY", "ok"],
  ["DISCARD ALL", "ok"],
  [`CREATE SUBSCRIPTION cls_new CONNECTION '${unreachable}' PUBLICATION pub`, "fails"],
  [`CREATE SUBSCRIPTION cls_new2 CONNECTION '${unreachable}' PUBLICATION pub WITH (create_slot = true, connect = true)`, "fails"],
  ["ALTER SUBSCRIPTION cls_enabled REFRESH PUBLICATION", "fails"],
  ["ALTER SUBSCRIPTION cls_enabled ADD PUBLICATION pub2", "fails"],
  ["ALTER SUBSCRIPTION cls_enabled SET PUBLICATION pub, pub3 WITH (refresh = true)", "fails"],
  ["ALTER SUBSCRIPTION cls_enabled DROP PUBLICATION pub5", "fails"],
  ["ALTER SUBSCRIPTION cls_disabled SET (failover = true)", "fails"],
  ["ALTER SUBSCRIPTION cls_disabled SET (two_phase = false)", "fails"],
  ["DROP SUBSCRIPTION cls_disabled", "fails"],
];

/** Allowed inside a transaction block: classified as transactional. */
const allowed = [
  "ANALYZE t",
  "CLUSTER t USING t_v_idx",
  "REINDEX TABLE t",
  "REINDEX INDEX t_v_idx",
  "REINDEX (CONCURRENTLY false) TABLE t",
  "CREATE INDEX t_plain ON t (v)",
  "DROP INDEX IF EXISTS t_nothing",
  // Refused in a transaction block before PostgreSQL 12 only.
  "ALTER TYPE mood ADD VALUE 'ok'",
  "ALTER TABLE p DETACH PARTITION p2",
  "ALTER DATABASE cls_spare SET work_mem = '8MB'",
  "DISCARD PLANS",
  "DISCARD TEMP",
  "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
  `CREATE SUBSCRIPTION cls_offline CONNECTION '${unreachable}' PUBLICATION pub WITH (connect = false)`,
  `CREATE SUBSCRIPTION cls_noslot CONNECTION '${unreachable}' PUBLICATION pub WITH (create_slot = false, connect = false)`,
  "ALTER SUBSCRIPTION cls_enabled ADD PUBLICATION pub4 WITH (refresh = false)",
  "ALTER SUBSCRIPTION cls_disabled SET (slot_name = NONE)",
  "ALTER SUBSCRIPTION cls_enabled DISABLE",
];

let url: string;
let client: pg.Client;

beforeAll(async () => {
  url = await freshDatabase("outside_tx");
  await admin(url, "CREATE DATABASE cls_spare").catch(() => {});
  await admin(
    url,
    `CREATE TABLE t (id int PRIMARY KEY, v int);
     CREATE INDEX t_v_idx ON t (v);
     CREATE TABLE p (id int) PARTITION BY RANGE (id);
     CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
     CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (10) TO (20);
     CREATE TABLE p3 PARTITION OF p FOR VALUES FROM (20) TO (30);
     CREATE TYPE mood AS ENUM ('sad');
     CREATE MATERIALIZED VIEW mv AS SELECT 1 AS id;
     CREATE UNIQUE INDEX mv_id ON mv (id);
     SET allow_in_place_tablespaces = on;
     CREATE SUBSCRIPTION cls_disabled CONNECTION '${unreachable}' PUBLICATION pub WITH (connect = false);
     CREATE SUBSCRIPTION cls_enabled CONNECTION '${unreachable}' PUBLICATION pub, pub5 WITH (connect = false);`,
  );
  client = new pg.Client({ connectionString: url });
  await client.connect();
  // CREATE TABLESPACE ... LOCATION '' makes a tablespace inside the data directory.
  await client.query("SET allow_in_place_tablespaces = on");
});

afterAll(async () => {
  await client?.end();
  // Subscriptions with a slot name cannot be dropped without reaching the publisher: forget the slot first.
  for (const sub of ["cls_enabled", "cls_disabled", "cls_offline", "cls_noslot"]) {
    await admin(url, `ALTER SUBSCRIPTION ${sub} DISABLE; ALTER SUBSCRIPTION ${sub} SET (slot_name = NONE); DROP SUBSCRIPTION ${sub}`).catch(() => {});
  }
  await admin(url, "DROP TABLESPACE IF EXISTS cls_ts").catch(() => {});
  await admin(url, "ALTER SYSTEM RESET work_mem").catch(() => {});
});

async function classify(sql: string): Promise<boolean> {
  const [stmt] = (await parseSqlFile(sql, "t.sql")).statements;
  return mustRunOutsideTransaction(stmt!);
}

/** The error a statement raises, or undefined. */
async function attempt(sql: string): Promise<{ code?: string; message: string } | undefined> {
  try {
    await client.query(sql);
    return undefined;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
}

async function inTransaction(sql: string): Promise<{ code?: string; message: string } | undefined> {
  await client.query("BEGIN");
  try {
    return await attempt(sql);
  } finally {
    await client.query("ROLLBACK");
  }
}

/** The subscription REFRESH checks need an enabled one; its worker cannot reach the publisher, so it is switched off again. */
async function withEnabled<T>(sql: string, f: () => Promise<T>): Promise<T> {
  if (!sql.includes("cls_enabled")) return f();
  await client.query("ALTER SUBSCRIPTION cls_enabled ENABLE");
  try {
    return await f();
  } finally {
    await client.query("ALTER SUBSCRIPTION cls_enabled DISABLE");
  }
}

describe("statements PostgreSQL refuses inside a transaction block", () => {
  it.each(refused)("%s", async (sql, outside) => {
    expect(await classify(sql)).toBe(true);
    const inside = await withEnabled(sql, () => inTransaction(sql));
    expect(inside?.code, inside?.message).toBe("25001");
    expect(inside?.message).toMatch(/cannot run inside a transaction block/);
    const out = await withEnabled(sql, () => attempt(sql));
    if (outside === "ok") expect(out, out?.message).toBeUndefined();
    else expect(out?.code, out?.message).not.toBe("25001");
  });
});

describe("statements allowed inside a transaction block", () => {
  it.each(allowed)("%s", async (sql) => {
    expect(await classify(sql)).toBe(false);
    const inside = await withEnabled(sql.includes("DISABLE") ? "" : sql, () => inTransaction(sql));
    expect(inside, inside?.message).toBeUndefined();
  });
});

describe("a migration holding one", () => {
  it("runs outside a transaction, statement by statement: REINDEX SCHEMA applies", async () => {
    const db = await freshDatabase("outside_tx_run");
    const cwd = makeProject({ "db/migrations/001_t.sql": "CREATE TABLE r (id int PRIMARY KEY);", "db/migrations/002_reindex.sql": "REINDEX SCHEMA public;" });
    const r = await runCli(["migrate", "--url", db], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(db, "SELECT name, transactional FROM pgkeel.migrations ORDER BY name")).toEqual([
      { name: "001_t", transactional: true },
      { name: "002_reindex", transactional: false },
    ]);
  });
});
