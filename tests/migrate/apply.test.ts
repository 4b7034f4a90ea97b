import pg from "pg";
import { describe, expect, it } from "vitest";
import { createKeel, type KeelEvent } from "../../src/index.js";
import { batchLimits } from "../../src/phases/migrate/batch.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject } from "../support/project.js";
import { FaultProxy } from "../support/proxy.js";

const tricky = `-- pgkeel:lock-timeout 2s
-- A comment; with a semicolon
CREATE TYPE mood AS ENUM ('sad', 'ok');
ALTER TYPE mood ADD VALUE 'happy';
CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL, m mood);
/* block comment; still a comment */
CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN upper(t) || ';'; -- semicolon in a body
END;
$$;
CREATE FUNCTION whisper(t text) RETURNS text LANGUAGE sql AS $body$ SELECT lower(t) || ';' $body$;
DO $$ BEGIN INSERT INTO notes (body) VALUES ('from a DO; block'); END $$;
INSERT INTO notes (body) VALUES (E'it\\'s; escaped'), ('plain ''quoted''; text'), ('naïve; ünïcode');
COMMENT ON TABLE notes IS 'notes; with semicolons'`;

async function keelOn(url: string, cwd: string, events: KeelEvent[] = []) {
  return createKeel({ url, cwd, onEvent: (e) => events.push(e), retryFirstMs: 20, retryCapMs: 100, maxRetries: 30 });
}

/** pgkeel's own tables, created by a migrate with nothing to apply (status only reads). */
async function bootstrapState(url: string): Promise<void> {
  const keel = await keelOn(url, makeProject({}));
  await keel.migrate();
  await keel.close();
}

describe("SQL migrations on a real server", () => {
  it("tricky SQL: dollar bodies, DO blocks, comments and strings with semicolons, E'' strings, ALTER TYPE ADD VALUE", async () => {
    const url = await freshDatabase("mig_tricky");
    const cwd = makeProject({ "db/migrations/001_tricky.sql": tricky });
    const keel = await keelOn(url, cwd);
    try {
      expect(await keel.migrate()).toEqual({ applied: ["001_tricky"], skipped: [], held: [] });
    } finally {
      await keel.close();
    }
    const rows = await admin<{ body: string }>(url, "SELECT body FROM notes ORDER BY id");
    expect(rows.map((r) => r.body)).toEqual(["from a DO; block", "it's; escaped", "plain 'quoted'; text", "naïve; ünïcode"]);
    expect(await admin(url, "SELECT shout('a') AS s, whisper('B') AS w")).toEqual([{ s: "A;", w: "b;" }]);
    expect(await admin(url, "SELECT obj_description('notes'::regclass) AS d")).toEqual([{ d: "notes; with semicolons" }]);
    expect(await admin(url, "SELECT enum_range(NULL::mood)::text AS r")).toEqual([{ r: "{sad,ok,happy}" }]);
  });

  it("transactional migrations with their tracking rows go several to a round trip", async () => {
    const url = await freshDatabase("mig_rt");
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    const files: Record<string, string> = {};
    for (let i = 1; i <= 20; i++) files[`db/migrations/${String(i).padStart(3, "0")}_m.sql`] = `CREATE TABLE t${i} (id int); ALTER TABLE t${i} ADD COLUMN x int; CREATE INDEX ON t${i} (x);`;
    await bootstrapState(url);
    const keel = await keelOn(proxy.url(url), makeProject(files));
    try {
      await keel.status(); // warm up: the state is checked once, here
      const before = proxy.roundTrips;
      await keel.migrate();
      const perRun = proxy.roundTrips - before;
      // Reading applied rows (the state was checked once, by status()), then the migrations batched into messages.
      expect(perRun).toBe(1 + Math.ceil(20 / batchLimits.migrations));
    } finally {
      await keel.close();
      await proxy.stop();
    }
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 20 }]);
  });

  it("COMMIT cut after the server committed: applied once, tracked once", async () => {
    const url = await freshDatabase("mig_commit_cut");
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    const cwd = makeProject({
      "db/migrations/001_base.sql": "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0);",
      "db/migrations/002_bump.sql": "ALTER TABLE counter ADD COLUMN extra int; UPDATE counter SET n = n + 1;",
      "db/migrations/003_after.sql": "CREATE TABLE after_cut (id int);",
    });
    const events: KeelEvent[] = [];
    await bootstrapState(url);
    const keel = await keelOn(proxy.url(url), cwd, events);
    try {
      await keel.status();
      // The next message ending in COMMIT is the migrations' message.
      proxy.cutAfterCommit(1);
      const r = await keel.migrate();
      expect(r).toEqual({ applied: ["001_base", "002_bump", "003_after"], skipped: [], held: [] });
    } finally {
      await keel.close();
      await proxy.stop();
    }
    expect(proxy.faults).toBe(1);
    expect(events).toContainEqual({ type: "resolved", unit: "001_base .. 003_after (3 migrations)", outcome: "committed" });
    expect(await admin(url, "SELECT n FROM counter")).toEqual([{ n: 1 }]);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([
      { name: "001_base" },
      { name: "002_bump" },
      { name: "003_after" },
    ]);
  });

  it("a batch that fails partway keeps what committed before the failure, and a rerun applies the rest", async () => {
    const url = await freshDatabase("mig_partial");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (1);",
      "db/migrations/002_b.sql": "UPDATE counter SET n = n + 10;",
      "db/migrations/003_bad.sql": "CREATE TABLE c (id int);\nINSERT INTO c VALUES ('not a number');",
      "db/migrations/004_d.sql": "CREATE TABLE d (id int);",
    });
    const keel = await keelOn(url, cwd);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    expect(err.sqlstate).toBe("22P02");
    expect(err.message).toContain("db/migrations/003_bad.sql:2:");
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "001_a" }, { name: "002_b" }]);
    expect(await admin(url, "SELECT to_regclass('c') IS NULL AS c, to_regclass('d') IS NULL AS d")).toEqual([{ c: true, d: true }]);
    writeFileSync(join(cwd, "db/migrations/003_bad.sql"), "CREATE TABLE c (id int);\nINSERT INTO c VALUES (3);");
    const again = await keelOn(url, cwd);
    expect(await again.migrate()).toEqual({ applied: ["003_bad", "004_d"], skipped: [], held: [] });
    await again.close();
    expect(await admin(url, "SELECT n FROM counter")).toEqual([{ n: 11 }]);
  });

  it("a lock timeout in the middle of a batch: the retry sends only what did not commit", async () => {
    const url = await freshDatabase("mig_locktimeout");
    await admin(url, "CREATE TABLE busy (id int); CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0);");
    const cwd = makeProject({
      "db/migrations/001_bump.sql": "UPDATE counter SET n = n + 1;",
      "db/migrations/002_busy.sql": "-- pgkeel:lock-timeout 100ms\nALTER TABLE busy ADD COLUMN x int;",
      "db/migrations/003_bump.sql": "UPDATE counter SET n = n + 100;",
    });
    const pg = await import("pg");
    const holder = new pg.default.Client({ connectionString: url });
    await holder.connect();
    await holder.query("BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE");
    const events: KeelEvent[] = [];
    const keel = await keelOn(url, cwd, events);
    setTimeout(() => void holder.query("COMMIT").then(() => holder.end()), 700);
    try {
      expect(await keel.migrate()).toEqual({ applied: ["001_bump", "002_busy", "003_bump"], skipped: [], held: [] });
    } finally {
      await keel.close();
    }
    expect(events.some((e) => e.type === "retry" && e.kind === "lock-timeout")).toBe(true);
    expect(await admin(url, "SELECT n FROM counter")).toEqual([{ n: 101 }]);
  });

  it("a migration with CREATE INDEX CONCURRENTLY runs outside a transaction, statement by statement", async () => {
    const url = await freshDatabase("mig_cic");
    const cwd = makeProject({
      "db/migrations/001_t.sql": "CREATE TABLE items (id int PRIMARY KEY, sku text);",
      "db/migrations/002_idx.sql": "CREATE INDEX CONCURRENTLY items_sku_idx ON items (sku);\nVACUUM items;",
    });
    const events: KeelEvent[] = [];
    const keel = await keelOn(url, cwd, events);
    try {
      await keel.migrate();
    } finally {
      await keel.close();
    }
    expect(events.filter((e) => e.type === "statement-applied").length).toBe(2);
    expect(await admin(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_sku_idx'::regclass")).toEqual([{ indisvalid: true }]);
    expect(await admin(url, "SELECT migration, step FROM pgkeel.migration_steps ORDER BY step")).toEqual([
      { migration: "002_idx", step: 0 },
      { migration: "002_idx", step: 1 },
    ]);
  });

  it("timeout directives apply to a no-transaction migration's statements too", async () => {
    const url = await freshDatabase("mig_notx_timeouts");
    await admin(url, "CREATE TABLE gate (id int); CREATE TABLE swept (id int)");
    await admin(url, `ALTER DATABASE ${new URL(url).pathname.slice(1)} SET statement_timeout = '200ms'`);
    const cwd = makeProject({
      "db/migrations/001_long.sql": "-- pgkeel:no-transaction\n-- pgkeel:statement-timeout 0\nSELECT pg_sleep(0.5);\nVACUUM swept;",
      // The second statement waits on a lock the test holds until migrate ends: only 002's own
      // statement timeout (shorter than the 5 s lock timeout) can end it.
      "db/migrations/002_short.sql": "-- pgkeel:no-transaction\n-- pgkeel:statement-timeout 1s\nSELECT 1;\nLOCK TABLE gate IN ACCESS SHARE MODE;",
    });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
    const keel = await keelOn(url, cwd);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    await holder.end();
    // 001 outlived the database's 200 ms because the file said 0; 002's own 1 s cut its second statement.
    expect(err.sqlstate).toBe("57014");
    expect(err.message).toContain("db/migrations/002_short.sql:4:1");
    expect(await admin(url, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_long" }]);
    expect(await admin(url, "SELECT migration, step FROM pgkeel.migration_steps ORDER BY 1, 2")).toEqual([
      { migration: "001_long", step: 0 },
      { migration: "001_long", step: 1 },
      { migration: "002_short", step: 0 },
    ]);
  });

  it("an error names the file, line and column of the failing statement, and the migration leaves nothing behind", async () => {
    const url = await freshDatabase("mig_err");
    const cwd = makeProject({
      "db/migrations/001_ok.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_bad.sql": "CREATE TABLE b (id int);\n\nALTER TABLE a\n  ADD COLUMN id int;\n",
    });
    const keel = await keelOn(url, cwd);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    expect(err.exitCode).toBe(1);
    expect(err.sqlstate).toBe("42701");
    expect(err.message).toContain("db/migrations/002_bad.sql:3:1");
    expect(err.message).toContain('column "id" of relation "a" already exists');
    expect(await admin(url, "SELECT to_regclass('b') IS NULL AS gone")).toEqual([{ gone: true }]);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_ok" }]);
  });

  it("an error with a position points at the exact column", async () => {
    const url = await freshDatabase("mig_errpos");
    const cwd = makeProject({ "db/migrations/001_bad.sql": "CREATE TABLE a (id int);\nSELECT nope_col\n  FROM a;\n" });
    const keel = await keelOn(url, cwd);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    expect(err.message).toContain("db/migrations/001_bad.sql:2:8");
    expect(err.sqlstate).toBe("42703");
  });
});

describe("code migrations", () => {
  it("up(db) runs in the migration's transaction with catalog checks that take exact names", async () => {
    const url = await freshDatabase("mig_code");
    const cwd = makeProject({
      "db/migrations/001_base.sql": `CREATE SCHEMA "Odd.Schema"; CREATE TABLE "Odd.Schema"."My Table" ("Display Name" text, CONSTRAINT "My Check" CHECK (true)); CREATE TABLE users (id int); CREATE INDEX "Users Idx" ON users (id);`,
      "db/migrations/002_code.ts": `
        export async function up(db: any) {
          const checks = {
            t1: await db.tableExists({ schema: "Odd.Schema", name: "My Table" }),
            t2: await db.tableExists("users"),
            t3: await db.tableExists("public.users"),
            t4: await db.tableExists("nope"),
            c1: await db.columnExists({ schema: "Odd.Schema", name: "My Table" }, "Display Name"),
            c2: await db.columnExists("users", "Display Name"),
            k1: await db.constraintExists({ schema: "Odd.Schema", name: "My Table" }, "My Check"),
            i1: await db.indexExists("Users Idx"),
            i2: await db.indexExists("public.Users Idx"),
            i3: await db.indexExists("users idx"),
          };
          await db.sql("CREATE TABLE checks (result jsonb)");
          await db.sql("INSERT INTO checks VALUES ($1)", [JSON.stringify(checks)]);
        }`,
      "db/migrations/003_fail.mjs": `export async function up(db) { await db.sql("CREATE TABLE never_kept (id int)"); throw new Error("boom in code"); }`,
    });
    const keel = await keelOn(url, cwd);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    expect(err.message).toContain("003_fail.mjs");
    expect(err.message).toContain("boom in code");
    expect(err.exitCode).toBe(1);
    const [row] = await admin<{ result: Record<string, boolean> }>(url, "SELECT result FROM checks");
    expect(row!.result).toEqual({ t1: true, t2: true, t3: true, t4: false, c1: true, c2: false, k1: true, i1: true, i2: true, i3: false });
    expect(await admin(url, "SELECT to_regclass('never_kept') IS NULL AS gone")).toEqual([{ gone: true }]);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "001_base" }, { name: "002_code" }]);
  });
});
