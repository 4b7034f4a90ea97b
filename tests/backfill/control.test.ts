import type { ChildProcess } from "node:child_process";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase, serverUrl, withDatabase } from "../support/db.js";
import { countersCheck, countersTable } from "../support/counters.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/** Control from outside: pause and resume from another shell, status of running workers, a hung holder cut off. */
const rowsDone = async (url: string) => Number((await admin<{ n: string | null }>(url, "SELECT sum(rows_done) AS n FROM pgkeel.backfill_ranges"))[0]?.n ?? 0);
const waitingAtGate = async (url: string) =>
  (await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))[0]!.n;
const workerStates = (url: string) =>
  admin<{ state: string }>(url, "SELECT state FROM pgkeel.backfill_workers WHERE seen_at > now() - interval '10 seconds' ORDER BY worker").then((r) => r.map((x) => x.state));

describe("pause and resume from any shell", { timeout: 120_000 }, () => {
  it("--pause from another process holds every worker of two processes; status shows them; --resume lets them finish, each row once", async () => {
    const url = await freshDatabase("bf_pause");
    // A gate instead of a pace: a row past 30,000 takes a shared advisory lock the test holds, so
    // the backfill cannot finish before the pause whatever the machine's speed.
    await admin(
      url,
      `${countersTable(60_000)};
       CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id > 30000 THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$;
       CREATE TRIGGER gate BEFORE UPDATE ON counters FOR EACH ROW EXECUTE FUNCTION gate();
       ANALYZE counters`,
    );
    const gate = new pg.Client({ connectionString: url });
    await gate.connect();
    await gate.query("SELECT pg_advisory_lock(4242)");
    const cwd = makeProject({
      // A batch waits at the gate as long as it takes (not 5 s, then split).
      "pgkeel.config.json": JSON.stringify({ lockTimeout: "10min" }),
      "db/backfills/001_bump.sql": "-- pgkeel:backfill table=counters key=id batch=100 target=0\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
    });
    const runners = [runCli(["backfill", "--workers", "2", "--url", url], { cwd }), runCli(["backfill", "--workers", "2", "--url", url], { cwd })];
    try {
      await until("four workers working, each held at the gate", async () => (await workerStates(url)).filter((s) => s === "working").length === 4 && (await waitingAtGate(url)) === 4);
      await checkPauseAndResume(url, cwd, gate);
    } finally {
      await gate.end().catch(() => {});
    }
    for (const r of await Promise.all(runners)) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/paused 001_bump: workers hold before their next batch/);
      expect(r.stderr).toMatch(/resumed 001_bump/);
    }
    expect(await countersCheck(url)).toEqual({ n: 60_000, wrong: 0 });
    const done = JSON.parse((await runCli(["status", "--json", "--url", url], { cwd })).stdout).backfills[0];
    expect(done).toMatchObject({ state: "done", rows: 60_000, workers: [], paused: false });
  });

  it("--pause of a backfill that does not exist is a usage error naming the ones that do", async () => {
    const url = await freshDatabase("bf_pause_bad");
    const cwd = makeProject({ "db/backfills/001_bump.sql": "-- pgkeel:backfill table=counters key=id\nUPDATE counters SET hits = 1 WHERE id BETWEEN :from AND :to;\n" });
    const r = await runCli(["backfill", "--pause", "nope", "--url", url], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no backfill named "nope" \(known: 001_bump\)/);
  });
});

/** With all four workers held at the gate: status, pause, open the gate, all paused and still, resume. */
async function checkPauseAndResume(url: string, cwd: string, gate: pg.Client): Promise<void> {
  const running = JSON.parse((await runCli(["status", "--json", "--url", url], { cwd })).stdout).backfills[0];
  expect(running).toMatchObject({ name: "001_bump", state: "partial", paused: false, throttle: null });
  expect(running.workers).toHaveLength(4);
  expect(running.workers.every((w: { state: string }) => w.state === "working")).toBe(true);
  expect(running.rowsPerSecond).toBeGreaterThan(0);
  expect(running.etaSeconds).toEqual(expect.any(Number));
  expect(running.ranges.total).toBeGreaterThanOrEqual(4);

  const pause = await runCli(["backfill", "--pause", "001_bump", "--url", url], { cwd });
  expect(pause.code, pause.stderr).toBe(0);
  expect(pause.stdout).toMatch(/backfill 001_bump: paused/);
  // The batches at the gate finish; then every worker holds before its next one.
  await gate.query("SELECT pg_advisory_unlock(4242)");
  await until("every worker paused", async () => {
    const states = await workerStates(url);
    return states.length === 4 && states.every((s) => s === "paused");
  });
  const held = await rowsDone(url);
  const paused = JSON.parse((await runCli(["status", "--json", "--url", url], { cwd })).stdout).backfills[0];
  expect(paused).toMatchObject({ paused: true, throttle: "paused by pgkeel backfill --pause", rows: held });
  expect(paused.workers.map((w: { state: string }) => w.state)).toEqual(["paused", "paused", "paused", "paused"]);
  const text = (await runCli(["status", "--url", url], { cwd })).stdout;
  expect(text).toMatch(/backfill {3}partial {2}001_bump \([\d,]+ rows, paused; 4 workers: 4 paused\)/);
  // Nothing moved while two more processes came and went.
  expect(await rowsDone(url)).toBe(held);

  const resume = await runCli(["backfill", "--resume", "001_bump", "--url", url], { cwd });
  expect(resume.code, resume.stderr).toBe(0);
}

describe("a hung code backfill is cut off", { timeout: 120_000 }, () => {
  it("a runner stopped (SIGSTOP) inside a batch transaction: its claim lapses, its session is cut off by idle_in_transaction_session_timeout, and another runner finishes", async () => {
    const url = await freshDatabase("bf_hung");
    await admin(url, countersTable(300));
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 2, idleInTransactionTimeout: "2s" }),
      // With HANG set, the batch holding key 150 waits inside its transaction for a promise that never settles.
      "db/backfills/001_code.mjs": `export default {
        table: "counters", key: "id", batch: 10, target: 0,
        async run(tx, range) {
          await tx.sql("UPDATE counters SET hits = hits + 1 WHERE id BETWEEN $1 AND $2", [range.from, range.to]);
          if (process.env.HANG && Number(range.from) <= 150 && 150 <= Number(range.to)) await new Promise(() => {});
        },
      };`,
    });
    let stuck: ChildProcess | undefined;
    const a = runCli(["backfill", "--url", url], { cwd, env: { HANG: "1" }, onSpawn: (c) => (stuck = c) });
    const db = new URL(url).pathname.slice(1);
    await until("the hung batch idle in its transaction", async () => {
      const [row] = await admin<{ n: number }>(
        withDatabase(serverUrl(), "postgres"),
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'pgkeel:%' AND state = 'idle in transaction' AND query LIKE '%UPDATE counters%'",
        [db],
      );
      return row!.n === 1 && (await rowsDone(url)) === 140;
    });
    stuck!.kill("SIGSTOP");
    try {
      const b = await runCli(["backfill", "--url", url], { cwd });
      expect(b.code, b.stderr).toBe(0);
    } finally {
      stuck!.kill("SIGKILL");
      await a;
    }
    expect(await countersCheck(url)).toEqual({ n: 300, wrong: 0 });
  });
});
