import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { sqlChecksum } from "../../src/sql/checksum.js";
import { parseSqlFile } from "../../src/sql/split.js";
import { admin, bouncerSkip, freshDatabase, statementBouncerUrl, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * Exactly once outside a transaction (SPEC guarantee 2): a runner that lost its
 * claim sends nothing more, a statement whose runner died is never run twice,
 * and a partly applied migration whose applied statements changed is drift.
 * Real OS processes, real signals, a real server.
 */

const rowsOf = async (url: string) => (await admin<{ who: string }>(url, "SELECT who FROM t ORDER BY id")).map((r) => r.who);

/** Backends of the test database waiting in `waitEvent` (a wait event name such as PgSleep or advisory). */
const waitingIn = async (url: string, waitEvent: string) =>
  (
    await admin<{ pid: number }>(
      url,
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = $1 AND pid <> pg_backend_pid()",
      [waitEvent],
    )
  ).map((r) => r.pid);

const claimLapsed = async (url: string, key: string) =>
  (await admin(url, "SELECT 1 FROM pgkeel.claims WHERE key = $1 AND expires_at < now()", [key])).length > 0;

/** A session of the test's own that holds advisory lock 42 until `release()`. */
async function holdAdvisoryLock(url: string): Promise<{ release: () => Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query("SELECT pg_advisory_lock(42)");
  return { release: () => c.end() };
}

async function project(url: string, migration: string): Promise<string> {
  await admin(url, "CREATE TABLE t (id serial PRIMARY KEY, who text NOT NULL DEFAULT 'default')");
  return makeProject({ "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 3 }), "db/migrations/001_notx.sql": migration });
}

describe("a runner that lost its claim", () => {
  it("stopped (SIGSTOP) past its claim's lifetime while a statement ran: after SIGCONT it sends nothing more and reports the takeover; one row", async () => {
    const url = await freshDatabase("fence_stop");
    const cwd = await project(url, "-- pgkeel:no-transaction\nSELECT pg_sleep(2);\nINSERT INTO t DEFAULT VALUES;");
    let a!: ChildProcess;
    const runA = runCli(["migrate", "--url", url], { cwd, onSpawn: (c) => (a = c) });
    await until("runner A in its pg_sleep", async () => (await waitingIn(url, "PgSleep")).length > 0);
    a.kill("SIGSTOP");
    try {
      await until("A's claim to lapse in pgkeel.claims", () => claimLapsed(url, "migration:001_notx"));
      const b = await runCli(["migrate", "--url", url], { cwd });
      expect(b.code, b.stderr).toBe(0);
    } finally {
      a.kill("SIGCONT");
    }
    const ra = await runA;
    expect(await rowsOf(url)).toEqual(["default"]);
    expect(ra.code, ra.stderr).toBe(3);
    expect(ra.stderr).toContain("another runner took over");
    expect(await admin(url, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_notx" }]);
  });
});

describe("a runner killed (SIGKILL) while its statement runs: the statement is never run twice", () => {
  it("a statement PostgreSQL allows in a transaction runs atomically with its step row: the next runner waits for the orphaned backend, then finds it done", async () => {
    const url = await freshDatabase("fence_kill_insert");
    // No lock timeout: the statement waits on the test's lock for as long as the test needs.
    const cwd = await project(url, "-- pgkeel:no-transaction\n-- pgkeel:lock-timeout 0\nINSERT INTO t (who) SELECT 'stmt' FROM pg_advisory_xact_lock(42);");
    const lock = await holdAdvisoryLock(url);
    try {
      const killed = await runCli(["migrate", "--url", url], { cwd, killWhen: async () => (await waitingIn(url, "advisory")).length > 0 });
      expect(killed.signal).toBe("SIGKILL");
      const [orphan] = await waitingIn(url, "advisory");
      expect(orphan).toBeDefined();
      await until("A's claim to lapse", () => claimLapsed(url, "migration:001_notx"));
      let stderr = "";
      const runB = runCli(["migrate", "--url", url], { cwd, onStderr: (e) => (stderr = e) });
      // B blocks behind the orphaned backend's uncommitted step (or, before the fix, behind the lock itself).
      await until("runner B to wait behind the orphaned statement", async () =>
        (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1", [orphan])).length > 0,
      );
      await lock.release();
      const b = await runB;
      expect(b.code, b.stderr).toBe(0);
    } finally {
      await lock.release().catch(() => {});
    }
    expect(await rowsOf(url)).toEqual(["stmt"]);
  });

  it("a statement that must run alone and cannot be repeated: the next runner waits while the orphaned backend runs it, then exits 5 with the SQL to resolve it", async () => {
    const url = await freshDatabase("fence_kill_do");
    // COMMIT inside the DO block: PostgreSQL runs it only outside a transaction block.
    const migration = "-- pgkeel:no-transaction\n-- pgkeel:lock-timeout 0\nCREATE TABLE before_do (id int);\nDO $$ BEGIN COMMIT; PERFORM pg_advisory_lock(42); PERFORM pg_advisory_unlock(42); INSERT INTO t (who) VALUES ('do'); END $$;\nCREATE TABLE after_do (id int);";
    const cwd = await project(url, migration);
    const lock = await holdAdvisoryLock(url);
    let b: Awaited<ReturnType<typeof runCli>>;
    try {
      const killed = await runCli(["migrate", "--url", url], { cwd, killWhen: async () => (await waitingIn(url, "advisory")).length > 0 });
      expect(killed.signal).toBe("SIGKILL");
      await until("A's claim to lapse", () => claimLapsed(url, "migration:001_notx"));
      let stderr = "";
      const runB = runCli(["migrate", "--url", url], { cwd, onStderr: (e) => (stderr = e) });
      await until("runner B to report that it waits for the orphaned statement", () => stderr.includes("waiting")).catch((e) => {
        throw new Error(`${(e as Error).message}; B said: ${stderr}`);
      });
      await lock.release();
      b = await runB;
    } finally {
      await lock.release().catch(() => {});
    }
    expect(await rowsOf(url)).toEqual(["do"]);
    expect(b.code, b.stderr).toBe(5);
    expect(b.stderr).toContain("db/migrations/001_notx.sql:4");
    expect(b.stderr).toContain("DO $$ BEGIN COMMIT;");
    const markDone = /UPDATE "pgkeel"\.migration_steps SET done_at = now\(\) WHERE [^;]*;/.exec(b.stderr)?.[0];
    expect(markDone, b.stderr).toBeDefined();
    expect(b.stderr).toMatch(/DELETE FROM "pgkeel"\.migration_steps WHERE [^;]*;/);
    expect(await admin(url, "SELECT to_regclass('after_do') IS NULL AS waits")).toEqual([{ waits: true }]);
    // The person checks, sees the row, and marks the statement done with the printed SQL.
    await admin(url, markDone!);
    const again = await runCli(["migrate", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await rowsOf(url)).toEqual(["do"]);
    expect(await admin(url, "SELECT to_regclass('after_do') IS NOT NULL AS ok")).toEqual([{ ok: true }]);
  });
});

describe("a partly applied no-transaction migration edited before the rerun", () => {
  const v1 = "-- pgkeel:no-transaction\nINSERT INTO t (who) VALUES ('a');\nSELECT 1/0;";

  it("a statement already run that changed is drift: exit 4 naming the file, statement and line; editing the statement that never ran is the normal fix", async () => {
    const url = await freshDatabase("fence_drift");
    const cwd = await project(url, v1);
    const first = await runCli(["migrate", "--url", url], { cwd });
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toContain("division by zero");
    writeFileSync(join(cwd, "db/migrations/001_notx.sql"), "-- pgkeel:no-transaction\nINSERT INTO t (who) VALUES ('x');\nINSERT INTO t (who) VALUES ('a');");
    const drift = await runCli(["migrate", "--url", url], { cwd });
    expect(drift.code, drift.stderr).toBe(4);
    expect(drift.stderr).toContain("db/migrations/001_notx.sql:2");
    expect(drift.stderr).toContain("statement 1");
    expect(drift.stderr).toContain("--allow-changed");
    expect(await rowsOf(url)).toEqual(["a"]);
    // Comments and spacing are not drift; the failed statement may be fixed freely.
    writeFileSync(join(cwd, "db/migrations/001_notx.sql"), "-- pgkeel:no-transaction\n-- the first insert\nINSERT   INTO t (who)\n  VALUES ('a');\nINSERT INTO t (who) VALUES ('b');");
    const fixed = await runCli(["migrate", "--url", url], { cwd });
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await rowsOf(url)).toEqual(["a", "b"]);
  });

  it("--allow-changed goes through: the changed statement counts as applied and is not run", async () => {
    const url = await freshDatabase("fence_drift_allow");
    const cwd = await project(url, v1);
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(1);
    writeFileSync(join(cwd, "db/migrations/001_notx.sql"), "-- pgkeel:no-transaction\nINSERT INTO t (who) VALUES ('a2');\nINSERT INTO t (who) VALUES ('b');");
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(4);
    const allowed = await runCli(["migrate", "--allow-changed", "--url", url], { cwd });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toContain("db/migrations/001_notx.sql:2");
    expect(await rowsOf(url)).toEqual(["a", "b"]);
  });
});

describe("an index step is judged on its own table", () => {
  it("CREATE INDEX CONCURRENTLY foo ON t2 is not taken as done because foo exists on t1, and an INVALID foo on t1 is not dropped", async () => {
    const url = await freshDatabase("fence_other_table");
    await admin(url, "CREATE TABLE t1 (a int); CREATE TABLE t2 (b int); INSERT INTO t1 VALUES (1), (1); CREATE INDEX foo ON t1 (a)");
    const cwd = makeProject({ "db/migrations/001_idx.sql": "-- pgkeel:no-transaction\nCREATE INDEX CONCURRENTLY foo ON t2 (b);" });
    const onT1 = () => admin(url, "SELECT indrelid::regclass::text AS t, indisvalid FROM pg_index WHERE indexrelid = 'foo'::regclass");
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("db/migrations/001_idx.sql:2");
    expect(r.stderr).toContain('relation "foo" already exists');
    expect(await onT1()).toEqual([{ t: "t1", indisvalid: true }]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 0 }]);
    // An INVALID foo on t1 (a failed unique build) is t1's business: left alone.
    await admin(url, "DROP INDEX foo");
    await admin(url, "CREATE UNIQUE INDEX CONCURRENTLY foo ON t1 (a)").catch(() => {});
    const again = await runCli(["migrate", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(1);
    expect(again.stderr).toContain('relation "foo" already exists');
    expect(await onT1()).toEqual([{ t: "t1", indisvalid: false }]);
  });
});

describe("a database set up by an earlier pgkeel", () => {
  it("gets the new step and claim columns, and resumes its partly applied no-transaction migration from the old step rows", async () => {
    const url = await freshDatabase("fence_old_state");
    const text = "-- pgkeel:no-transaction\nINSERT INTO t (who) VALUES ('a');\nINSERT INTO t (who) VALUES ('b');";
    const cwd = await project(url, text);
    // The tables as the first release made them; step 0 recorded by it, with the file's checksum.
    await admin(
      url,
      `CREATE SCHEMA pgkeel;
       CREATE TABLE pgkeel.migrations (name text PRIMARY KEY, checksum text NOT NULL, transactional boolean NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer NOT NULL DEFAULT 0, applied_by text);
       CREATE TABLE pgkeel.migration_steps (migration text NOT NULL, step integer NOT NULL, checksum text NOT NULL,
         done_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration, step));
       CREATE TABLE pgkeel.claims (key text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL);
       CREATE TABLE pgkeel.index_builds (index_name text NOT NULL, owner text NOT NULL, started_at timestamptz NOT NULL DEFAULT now());
       CREATE TABLE pgkeel.backfills (name text PRIMARY KEY, position text, rows_done bigint NOT NULL DEFAULT 0,
         batches integer NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz);
       INSERT INTO pgkeel.claims VALUES ('migration:001_notx', 'a dead runner', now() - interval '1 minute');
       INSERT INTO t (who) VALUES ('a');`,
    );
    const checksum = sqlChecksum((await parseSqlFile(text, "001_notx.sql")).tokens);
    await admin(url, "INSERT INTO pgkeel.migration_steps (migration, step, checksum) VALUES ('001_notx', 0, $1)", [checksum]);
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await rowsOf(url)).toEqual(["a", "b"]);
    expect(await admin(url, "SELECT step, done_at IS NOT NULL AS done, statement_checksum IS NOT NULL AS per_statement FROM pgkeel.migration_steps ORDER BY step")).toEqual([
      { step: 0, done: true, per_statement: false },
      { step: 1, done: true, per_statement: true },
    ]);
  });
});

describe("through PgBouncer in statement mode", () => {
  it("each step is one implicit transaction: the migration runs, each statement once, and a failing statement's error arrives as itself", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const url = await freshDatabase("fence_stmt_mode");
    const pooled = withDatabase(statementBouncerUrl(), new URL(url).pathname.slice(1));
    const cwd = await project(url, "-- pgkeel:no-transaction\nINSERT INTO t (who) VALUES ('a');\nCREATE INDEX CONCURRENTLY t_who_idx ON t (who);\nINSERT INTO t (id, who) VALUES (1, 'dup');");
    const r = await runCli(["migrate", "--url", pooled], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("db/migrations/001_notx.sql:4:1");
    expect(r.stderr).toContain("23505");
    writeFileSync(join(cwd, "db/migrations/001_notx.sql"), "-- pgkeel:no-transaction\nINSERT INTO t (who) VALUES ('a');\nCREATE INDEX CONCURRENTLY t_who_idx ON t (who);\nINSERT INTO t (who) VALUES ('b');");
    const again = await runCli(["migrate", "--url", pooled], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await rowsOf(url)).toEqual(["a", "b"]);
    expect(await admin(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_who_idx'::regclass")).toEqual([{ indisvalid: true }]);
  });
});
