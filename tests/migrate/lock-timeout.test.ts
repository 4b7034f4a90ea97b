import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { admin, bouncerSkip, bouncerUrl, freshDatabase, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * SPEC guarantee 6 outside transactions: a no-transaction statement queues no
 * production traffic behind it for longer than the lock timeout (the configured
 * default, or the file's directive), directly and through a transaction-mode
 * pooler. A reader holds its lock throughout; pgkeel gives up with exit 3 after
 * its retries instead of waiting behind it.
 */

const open: pg.Client[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.end().catch(() => {});
});

/** A session of the test's that runs `sql` and keeps its transaction open. */
async function holding(url: string, sql: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  open.push(c);
  await c.query(`BEGIN; ${sql}`);
  return c;
}

async function setup(prefix: string, lockTimeout: string, migration: string): Promise<{ url: string; cwd: string }> {
  const url = await freshDatabase(prefix);
  await admin(url, "CREATE TABLE t (id int)");
  const cwd = makeProject({ "pgkeel.config.json": JSON.stringify({ lockTimeout }), "db/migrations/001_notx.sql": migration });
  return { url, cwd };
}

const quick = ["--max-retries", "2", "--retry-cap", "50"];
const via = (direct: string) => withDatabase(bouncerUrl(), new URL(direct).pathname.slice(1));

describe("lock_timeout on statements outside a transaction", () => {
  it("the configured default applies: an ALTER behind a reader times out and is retried, then exit 3", async () => {
    const { url, cwd } = await setup("lt_default", "200ms", "-- pgkeel:no-transaction\nALTER TABLE t ADD COLUMN c int;");
    await holding(url, "SELECT * FROM t");
    const r = await runCli(["migrate", "--url", url, ...quick], { cwd });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("55P03");
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migration_steps")).toEqual([{ n: 0 }]);
  });

  it("the file's directive wins over the default", async () => {
    const { url, cwd } = await setup("lt_directive", "1h", "-- pgkeel:no-transaction\n-- pgkeel:lock-timeout 200ms\nALTER TABLE t ADD COLUMN c int;");
    await holding(url, "SELECT * FROM t");
    const r = await runCli(["migrate", "--url", url, ...quick], { cwd });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("55P03");
  });

  it("through PgBouncer in transaction mode: set in the statement's own transaction, so it applies there too", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { url, cwd } = await setup("lt_bouncer", "200ms", "-- pgkeel:no-transaction\nALTER TABLE t ADD COLUMN c int;");
    await holding(url, "SELECT * FROM t");
    const r = await runCli(["migrate", "--url", via(url), ...quick], { cwd });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("55P03");
  });

  it("a statement PostgreSQL runs only outside a transaction (VACUUM FULL) gets it as a session setting on a direct connection", async () => {
    const { url, cwd } = await setup("lt_vacuum", "200ms", "-- pgkeel:no-transaction\nVACUUM FULL t;");
    await holding(url, "SELECT * FROM t");
    const r = await runCli(["migrate", "--url", url, ...quick], { cwd });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("55P03");
    // Its mark was cleared: nothing is left that a rerun would have to judge.
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migration_steps")).toEqual([{ n: 0 }]);
  });

  it("... and through a transaction-mode pooler, where pgkeel sets no session state, is refused with exit 2 naming the fix, before anything is marked", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { url, cwd } = await setup("lt_vacuum_bouncer", "200ms", "-- pgkeel:no-transaction\nVACUUM FULL t;");
    const r = await runCli(["migrate", "--url", via(url), ...quick], { cwd });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("transaction-mode pooler");
    expect(r.stderr).toContain("db/migrations/001_notx.sql:2");
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migration_steps")).toEqual([{ n: 0 }]);
  });

  it("CREATE INDEX CONCURRENTLY gets none: it waits out a writer (its lock queues no reads or writes) instead of leaving an INVALID index", async () => {
    const { url, cwd } = await setup("lt_cic", "200ms", "-- pgkeel:no-transaction\nCREATE INDEX CONCURRENTLY t_id_idx ON t (id);");
    const writer = await holding(url, "INSERT INTO t VALUES (1)");
    const run = runCli(["migrate", "--url", url, ...quick], { cwd });
    // Well past the lock timeout, by the server's clock, the build still waits for the writer.
    await until("the build to wait for the writer for over a second", async () =>
      (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock' AND now() - query_start > interval '1 s'")).length > 0,
    );
    await writer.query("COMMIT");
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id_idx'::regclass")).toEqual([{ indisvalid: true }]);
  });
});
