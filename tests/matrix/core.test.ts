import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createKeel, type KeelEvent } from "../../src/index.js";
import { admin, bouncerSkip, freshDatabase, serverMajor, statementBouncerUrl, withDatabase } from "../support/db.js";
import { bumpBackfill, countersCheck, countersTable } from "../support/counters.js";
import { makeProject, runCli } from "../support/project.js";
import { FaultProxy } from "../support/proxy.js";

/**
 * The core behaviour on every supported major (the version matrix: `.ci/run`
 * runs this file with PGKEEL_TEST_PG=12 .. 17; the full suite runs it on 18).
 * Each test goes through the catalog queries and protocol paths a major can
 * differ in: search-path lookups, pg_stat_progress_create_index, pg_get_indexdef,
 * implicit transactions, advisory locks, claims.
 */
const keelOn = (url: string, cwd: string, events: KeelEvent[] = []) =>
  createKeel({ url, cwd, onEvent: (e) => events.push(e), retryFirstMs: 20, retryCapMs: 100, maxRetries: 30 });

const codeMigration = `export async function up(db) {
  if (!(await db.tableExists("items"))) throw new Error("items should exist");
  if (!(await db.columnExists("public.items", "label"))) throw new Error("items.label should exist");
  if (await db.indexExists("items_nope_idx")) throw new Error("no such index");
  await db.sql("ALTER TABLE items ADD COLUMN code text");
}
`;

describe(`core behaviour on PostgreSQL ${serverMajor()}`, () => {
  it("doctor: the server's version, supported, pooler none", async () => {
    const url = await freshDatabase("core_doctor");
    const r = await runCli(["doctor", "--json", "--url", url], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(Math.floor(d.serverVersionNum / 10000)).toBe(serverMajor());
    expect(d).toMatchObject({ supported: true, warnings: [], pooler: "none" });
  });

  it("doctor through PgBouncer in statement mode: pooler statement", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const db = new URL(await freshDatabase("core_doctor_stmt")).pathname.slice(1);
    const r = await runCli(["doctor", "--json", "--url", withDatabase(statementBouncerUrl(), db)], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pooler: "statement" });
  });

  it("SQL migrations batched with a code migration's catalog checks; an error names file and line and keeps what committed", async () => {
    const url = await freshDatabase("core_apply");
    const cwd = makeProject({
      "db/migrations/001_items.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, label text NOT NULL);",
      "db/migrations/002_more.sql": "ALTER TABLE items ADD COLUMN n int NOT NULL DEFAULT 0;\nCREATE INDEX items_n_idx ON items (n);",
      "db/migrations/003_code.mjs": codeMigration,
      "db/migrations/004_ok.sql": "CREATE TABLE tags (id int PRIMARY KEY);",
      "db/migrations/005_bad.sql": "CREATE TABLE t5 (id int);\nINSERT INTO nowhere VALUES (1);",
    });
    const keel = keelOn(url, cwd);
    try {
      await expect(keel.migrate()).rejects.toThrow(/005_bad\.sql:2:13: relation "nowhere" does not exist \(SQLSTATE 42P01\)/);
    } finally {
      await keel.close();
    }
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual(
      ["001_items", "002_more", "003_code", "004_ok"].map((name) => ({ name })),
    );
    expect(await admin(url, "SELECT to_regclass('t5') AS t5, to_regclass('items_n_idx')::text AS idx")).toEqual([{ t5: null, idx: "items_n_idx" }]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'code'")).toEqual([{ n: 1 }]);
  });

  it("drift: an applied file changed is refused with exit 4 and reported as changed", async () => {
    const url = await freshDatabase("core_drift");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int);" });
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(0);
    writeFileSync(join(cwd, "db/migrations/001_a.sql"), "CREATE TABLE a (id bigint);");
    writeFileSync(join(cwd, "db/migrations/002_b.sql"), "CREATE TABLE b (id int);");
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain("001_a.sql");
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).migrations).toEqual([
      expect.objectContaining({ name: "001_a", state: "changed" }),
      expect.objectContaining({ name: "002_b", state: "pending" }),
    ]);
  });

  it("a no-transaction migration that failed resumes at its first statement not done", async () => {
    const url = await freshDatabase("core_stepwise");
    const file = "db/migrations/001_steps.sql";
    const steps = "CREATE TABLE runs (id serial PRIMARY KEY, n int);\nINSERT INTO runs (n) VALUES (1);\nCREATE INDEX CONCURRENTLY runs_n_idx ON runs (n);\n";
    const cwd = makeProject({ [file]: `-- pgkeel:no-transaction\n${steps}SELECT 1 / 0;\n` });
    const first = await runCli(["migrate", "--url", url], { cwd });
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toContain("001_steps.sql:5");
    writeFileSync(join(cwd, file), `-- pgkeel:no-transaction\n${steps}SELECT 1;\n`);
    const second = await runCli(["migrate", "--url", url], { cwd });
    expect(second.code, second.stderr).toBe(0);
    // The INSERT ran once, the index is valid, the migration is recorded.
    expect(await admin(url, "SELECT count(*)::int AS n FROM runs")).toEqual([{ n: 1 }]);
    expect(await admin(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'runs_n_idx'::regclass")).toEqual([{ indisvalid: true }]);
    expect(await admin(url, "SELECT name, transactional FROM pgkeel.migrations")).toEqual([{ name: "001_steps", transactional: false }]);
  });

  it("an INVALID index left by a failed build is dropped and built again; status reads the live definition as valid", async () => {
    const url = await freshDatabase("core_index");
    await admin(url, "CREATE TABLE small (id int PRIMARY KEY, code text); INSERT INTO small VALUES (1, 'a'), (2, 'b'), (3, 'a')");
    await admin(url, "CREATE UNIQUE INDEX CONCURRENTLY small_code_idx ON small (code)").catch(() => {});
    expect(await admin(url, "SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid")).toEqual([{ name: "small_code_idx" }]);
    const cwd = makeProject({ "db/indexes/small.sql": "CREATE INDEX small_code_idx ON small (lower(code)) INCLUDE (id) WHERE code IS NOT NULL;" });
    const r = await runCli(["indexes", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = 'small_code_idx'::regclass")).toEqual([
      { indisvalid: true, indisunique: false },
    ]);
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).indexes).toEqual([expect.objectContaining({ name: "small_code_idx", state: "valid" })]);
  });

  it("a backfill whose COMMIT reply is cut: every row exactly once", async () => {
    const url = await freshDatabase("core_backfill");
    await admin(url, countersTable(2000));
    const cwd = makeProject({ "db/backfills/001_bump.sql": bumpBackfill(200) });
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    const events: KeelEvent[] = [];
    const keel = keelOn(proxy.url(url), cwd, events);
    try {
      await keel.status();
      proxy.cutAfterCommit(3);
      await keel.backfill();
    } finally {
      await keel.close();
      await proxy.stop();
    }
    expect(proxy.faults).toBe(1);
    expect(events.filter((e) => e.type === "resolved")).toEqual([expect.objectContaining({ outcome: "committed" })]);
    expect(await countersCheck(url)).toEqual({ n: 2000, wrong: 0 });
  });

  it("two runners at once, all three phases: both exit 0, each unit applied once", async () => {
    const url = await freshDatabase("core_two");
    await admin(url, countersTable(3000));
    const cwd = makeProject({
      "db/migrations/001_log.sql": "CREATE TABLE log (id serial PRIMARY KEY, what text);\nINSERT INTO log (what) VALUES ('001');",
      "db/migrations/002_log.sql": "INSERT INTO log (what) VALUES ('002');",
      "db/migrations/003_steps.sql": "-- pgkeel:no-transaction\nINSERT INTO log (what) VALUES ('003');\nCREATE INDEX CONCURRENTLY log_what_idx ON log (what);",
      "db/indexes/counters.sql": "CREATE INDEX counters_hits_idx ON counters (hits);",
      "db/backfills/001_bump.sql": bumpBackfill(300),
    });
    const runs = await Promise.all([0, 1].map(() => runCli(["run", "--url", url], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT what, count(*)::int AS n FROM log GROUP BY what ORDER BY what")).toEqual(
      ["001", "002", "003"].map((what) => ({ what, n: 1 })),
    );
    expect(await countersCheck(url)).toEqual({ n: 3000, wrong: 0 });
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.index_builds")).toEqual([{ n: 1 }]);
  });
});
