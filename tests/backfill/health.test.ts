import pg from "pg";
import { describe, expect, it } from "vitest";
import { admin, bouncerSkip, bouncerUrl, freshDatabase, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { startCli, until } from "../operate/cli.js";

/**
 * The backfill's health throttle against a real server: a session queued behind a
 * lock on the table pauses the backfill, which says why and goes on by itself
 * once the queue is gone; a graceful stop ends the pause at once.
 */
const setup = `CREATE TABLE t (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0);
  INSERT INTO t (id) SELECT generate_series(1, 2000);
  ANALYZE t;`;
const project = () =>
  makeProject({
    // A long claim lifetime: a runner that left its claim behind would make the next one wait.
    "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 120 }),
    "db/backfills/001_bump.sql": "-- pgkeel:backfill table=t key=id batch=100 target=0\nUPDATE t SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
  });

interface ThrottleEvent {
  type: "backfill-throttle";
  state: string;
  signal: string | null;
  value: number | null;
  limit: number | null;
  reason: string;
}
/** Waits until the run reports `state`; on a timeout, the error carries what the run printed. */
async function untilState(run: { stdout: () => string; stderr: () => string }, state: string): Promise<void> {
  await until(`the backfill ${state}`, () => throttleEvents(run.stdout()).some((e) => e.state === state)).catch((e: Error) => {
    throw new Error(`${e.message}\nstdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`);
  });
}

const throttleEvents = (stdout: string): ThrottleEvent[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string })
    .filter((e): e is ThrottleEvent => e.type === "backfill-throttle");

/**
 * The classic lock queue: `holder` reads the table in an open transaction, and an
 * ALTER TABLE queues behind it for its ACCESS EXCLUSIVE lock; everything that
 * touches the table after it would queue behind the ALTER.
 */
async function lockQueue(url: string) {
  const holder = new pg.Client({ connectionString: url });
  const ddl = new pg.Client({ connectionString: url });
  await holder.connect();
  await ddl.connect();
  await holder.query("BEGIN; SELECT count(*) FROM t");
  await ddl.query("SET lock_timeout = 0");
  const altered = ddl.query("ALTER TABLE t ADD COLUMN extra int");
  altered.catch(() => {});
  const queued = async () =>
    (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE t%'")).length === 1;
  await until("the ALTER TABLE queued behind the open transaction", queued);
  return {
    queued,
    release: async () => {
      await holder.query("COMMIT");
      await altered;
      await Promise.all([holder.end(), ddl.end()]);
    },
  };
}

// Reads pgkeel's own table: reading t itself would queue behind the ALTER TABLE.
const checkpoint = async (url: string) => (await admin<{ rows: number; batches: number }>(url, "SELECT rows_done::int AS rows, batches::int AS batches FROM pgkeel.backfills"))[0];
const hits = async (url: string) => (await admin<{ sum: number | null; wrong: number }>(url, "SELECT sum(hits)::int AS sum, count(*) FILTER (WHERE hits <> 1)::int AS wrong FROM t"))[0]!;

describe("health throttle: sessions waiting for a lock on the table", () => {
  const via: [string, (direct: string) => string][] = [
    ["direct", (u) => u],
    ["through PgBouncer (transaction mode)", (u) => withDatabase(bouncerUrl(), new URL(u).pathname.slice(1))],
  ];
  it.each(via)("%s: a session queued on the table pauses the backfill, which names the signal and its value; it finishes once the queue is gone", async (label, target) => {
    if (label !== "direct" && bouncerSkip()) return void console.warn(`skipped: ${bouncerSkip()}`);
    const url = await freshDatabase("bf_health_locks");
    await admin(url, setup);
    const queue = await lockQueue(url);
    const cwd = project();
    const run = startCli(["backfill", "--json", "--url", target(url)], cwd);
    await untilState(run, "paused");
    const paused = throttleEvents(run.stdout()).find((e) => e.state === "paused")!;
    expect(paused).toMatchObject({ signal: "lock-waiters", value: 1, limit: 0 });
    expect(paused.reason).toBe("1 session waits for a lock on public.t (limit 0)");
    // It slowed first, and while paused it changed nothing.
    expect(throttleEvents(run.stdout())[0]!.state).toBe("slow");
    expect(await checkpoint(url)).toEqual({ rows: 0, batches: 0 });
    expect(await queue.queued()).toBe(true);

    await queue.release();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(throttleEvents(r.stdout).map((e) => e.state)).toEqual(["slow", "paused", "clear"]);
    expect(throttleEvents(r.stdout).at(-1)!.reason).toBe("health signals clear");
    expect(await hits(url)).toEqual({ sum: 2000, wrong: 0 });
  });

  it("the progress output says it paused and why, and that it resumed", async () => {
    const url = await freshDatabase("bf_health_text");
    await admin(url, setup);
    const queue = await lockQueue(url);
    const run = startCli(["backfill", "--url", url], project());
    await until("the pause reported", () => run.stderr().includes("paused 001_bump: 1 session waits for a lock on public.t (limit 0)"));
    await queue.release();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("slowed 001_bump: 1 session waits for a lock on public.t (limit 0)");
    expect(r.stderr).toContain("resumed 001_bump: health signals clear");
  });

  it("SIGTERM while paused stops at once, without waiting for the signal to clear: exit 143, claim released, nothing changed", async () => {
    const url = await freshDatabase("bf_health_stop");
    await admin(url, setup);
    const queue = await lockQueue(url);
    try {
      const run = startCli(["backfill", "--json", "--url", url], project());
      await untilState(run, "paused");
      run.child.kill("SIGTERM");
      const r = await run.done;
      expect(r.code, r.stderr).toBe(143);
      expect(r.stderr).toMatch(/stopped by SIGTERM .*backfill: done nothing; left 001_bump/);
      // The queue is still there: the stop did not wait for it to clear.
      expect(await queue.queued()).toBe(true);
      expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.claims")).toEqual([{ n: 0 }]);
      expect(await checkpoint(url)).toEqual({ rows: 0, batches: 0 });
    } finally {
      await queue.release();
    }
  });

  it("a bad limit in the config is refused before anything runs, naming the file and the key", async () => {
    const bad = makeProject({
      "pgkeel.config.json": JSON.stringify({ backfill: { health: { replicationLag: "soon" } } }),
      "db/backfills/001_bump.sql": "-- pgkeel:backfill table=t key=id batch=100\nUPDATE t SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
    });
    const r = await runCli(["backfill", "--url", "postgres://nobody@127.0.0.1:1/x"], { cwd: bad });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/pgkeel\.config\.json: backfill\.health\.replicationLag must be a duration such as "10s"/);
  });
});
