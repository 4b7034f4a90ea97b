import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli, type CliRun } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * Two runners against a database whose own settings would trip pgkeel's wait for
 * the migrate lock: the second must wait for the first and exit 0, whatever the
 * database's statement_timeout or default isolation, and a first runner that hangs
 * inside its transaction must not hold the second back for ever.
 */

const dbName = (url: string) => new URL(url).pathname.slice(1);

/** pgkeel sessions on the database of `url` matching `where` (over pg_stat_activity columns). */
async function sessions(url: string, where: string): Promise<number> {
  const rows = await admin<{ n: number }>(
    url,
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgkeel:%' AND ${where}`,
  );
  return rows[0]!.n;
}

const waitingForMigrateLock = "wait_event_type = 'Lock' AND wait_event = 'advisory'";

/**
 * Runner A applies 001, which waits on a lock the test holds; runner B starts and
 * queues behind A on the migrate lock; `whileBWaits` runs then; then A is let go.
 */
async function twoRunners(url: string, whileBWaits: (b: { exited: () => boolean }) => Promise<void>): Promise<[CliRun, CliRun]> {
  await admin(url, "CREATE TABLE gate (id int); CREATE TABLE t (who text)");
  const cwd = makeProject({
    // No limits of its own: A must outwait the test's lock whatever the database says.
    "db/migrations/001_slow.sql": "-- pgkeel:lock-timeout 0\n-- pgkeel:statement-timeout 0\nLOCK TABLE gate IN ACCESS SHARE MODE;\nINSERT INTO t VALUES ('once');",
  });
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  try {
    await holder.query("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
    const a = runCli(["migrate", "--url", url], { cwd });
    await until("runner A waits on the test's lock", async () => (await sessions(url, "wait_event_type = 'Lock' AND wait_event = 'relation'")) === 1);
    let bExited = false;
    const b = runCli(["migrate", "--url", url], { cwd }).then((r) => ((bExited = true), r));
    await until("runner B waits for the migrate lock (or ends)", async () => bExited || (await sessions(url, waitingForMigrateLock)) === 1);
    await whileBWaits({ exited: () => bExited });
    await holder.query("COMMIT");
    return await Promise.all([a, b]);
  } finally {
    await holder.end();
  }
}

async function expectOnce(url: string): Promise<void> {
  expect(await admin(url, "SELECT who FROM t")).toEqual([{ who: "once" }]);
  expect(await admin(url, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_slow" }]);
}

describe("the wait for another runner under the database's own settings", () => {
  it("ALTER DATABASE ... SET statement_timeout: the second runner outwaits it and exits 0", async () => {
    const url = await freshDatabase("set_stmt_timeout");
    await admin(url, `ALTER DATABASE "${dbName(url)}" SET statement_timeout = '300ms'`);
    const [a, b] = await twoRunners(url, async (b) => {
      // The server's own clock says B has waited past the database's statement_timeout.
      await until("runner B has waited over 1 s (or ended)", async () =>
        b.exited() || (await sessions(url, `${waitingForMigrateLock} AND clock_timestamp() - query_start > interval '1 s'`)) === 1,
      );
    });
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("applied by another runner");
    await expectOnce(url);
  });

  it("default_transaction_isolation = 'repeatable read': the second runner sees the first one's commit and exits 0", async () => {
    const url = await freshDatabase("set_rr");
    await admin(url, `ALTER DATABASE "${dbName(url)}" SET default_transaction_isolation = 'repeatable read'`);
    const [a, b] = await twoRunners(url, async () => {});
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("applied by another runner");
    await expectOnce(url);
  });

  it("every migrate transaction states its isolation level and idle limit (dry run)", async () => {
    const url = await freshDatabase("set_dry");
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ idleInTransactionTimeout: "15s" }),
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_b.sql": "-- pgkeel:no-transaction\nCREATE TABLE b (id int);",
      "db/migrations/003_c.ts": "export async function up(db) { await db.sql('CREATE TABLE c (id int)'); }",
    });
    const r = await runCli(["migrate", "--dry-run", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const begins = r.stdout.match(/^(BEGIN|SET TRANSACTION).*$/gm) ?? [];
    expect(begins.length).toBeGreaterThanOrEqual(3);
    for (const line of begins) expect(line).toMatch(/ISOLATION LEVEL READ COMMITTED/);
    expect(r.stdout.match(/SET LOCAL idle_in_transaction_session_timeout = '15s'/g)?.length).toBe(begins.length);
  });
});

describe("a runner that hangs inside its transaction", () => {
  /** 001 is a code migration; with STALL set, the runner stops inside it, transaction open, until that file exists. */
  function hangingProject(): string {
    return makeProject({
      "pgkeel.config.json": JSON.stringify({ idleInTransactionTimeout: "1s" }),
      "db/migrations/001_code.mjs": `import { existsSync } from "node:fs";
export async function up(db) {
  await db.sql("INSERT INTO t VALUES ('once')");
  if (process.env.HANG) await new Promise(() => {});
  while (process.env.STALL && !existsSync(process.env.STALL)) await new Promise((r) => setTimeout(r, 20));
}
`,
    });
  }

  async function startHolder(url: string, cwd: string, env: Record<string, string>): Promise<{ run: Promise<CliRun>; child: () => ChildProcess }> {
    let child: ChildProcess | undefined;
    const run = runCli(["migrate", "--url", url], { cwd, env, onSpawn: (c) => (child = c) });
    let exited = false;
    void run.then(() => (exited = true));
    await until("runner A sits idle inside its transaction, holding the migrate lock (or ends)", async () => exited || (await sessions(url, "state = 'idle in transaction'")) === 1);
    if (exited) throw new Error(`runner A ended before it hung: ${(await run).stderr}`);
    return { run, child: () => child! };
  }

  it("a code migration whose promise never settles: the server cuts it off after idleInTransactionTimeout and another runner applies it", async () => {
    const url = await freshDatabase("hang_code");
    await admin(url, "CREATE TABLE t (who text)");
    const cwd = hangingProject();
    const a = await startHolder(url, cwd, { HANG: "1" });
    try {
      // Without the limit B would wait for ever: the kill only turns that into a failure.
      const b = await runCli(["migrate", "--url", url], { cwd, killAfterMs: 40_000 });
      expect(b.code, b.stderr).toBe(0);
      expect(b.stderr).toContain("001_code");
      await expectCode(url);
    } finally {
      a.child().kill("SIGKILL");
      await a.run;
    }
  });

  it("a runner stopped with SIGSTOP inside its transaction: cut off, another runner applies the migration; resumed, it exits 0 without applying it again", async () => {
    const url = await freshDatabase("hang_stop");
    await admin(url, "CREATE TABLE t (who text)");
    const cwd = hangingProject();
    const stall = join(cwd, "stall");
    const a = await startHolder(url, cwd, { STALL: stall });
    a.child().kill("SIGSTOP");
    let aResult: CliRun | undefined;
    try {
      const b = await runCli(["migrate", "--url", url], { cwd, killAfterMs: 40_000 });
      expect(b.code, b.stderr).toBe(0);
      await expectCode(url);
    } finally {
      writeFileSync(stall, "");
      a.child().kill("SIGCONT");
      aResult = await a.run;
    }
    expect(aResult.code, aResult.stderr).toBe(0);
    expect(aResult.stderr).toContain("applied by another runner");
    await expectCode(url);
  });

  async function expectCode(url: string): Promise<void> {
    expect(await admin(url, "SELECT who FROM t")).toEqual([{ who: "once" }]);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_code" }]);
  }
});
