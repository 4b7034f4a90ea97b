import type { ChildProcess } from "node:child_process";
import { describe, expect, it, onTestFailed } from "vitest";
import { admin, freshDatabase, serverUrl, withDatabase } from "../support/db.js";
import { countersCheck, countersTable } from "../support/counters.js";
import { makeProject, runCli, type CliRun } from "../support/project.js";
import { mulberry32 } from "../support/proxy.js";
import { until } from "../support/wait.js";

/**
 * Many worker processes on one non-idempotent backfill (hits = hits + 1), while
 * the test SIGKILLs random processes (a replacement starts each time, as a
 * restarted pod would) and terminates random pgkeel backends. Each fault waits
 * for committed progress since the last one (state, not time). A key range
 * applied twice, or skipped, shows as a row whose hits are not 1.
 */
const rowsDone = async (url: string) => Number((await admin<{ n: string | null }>(url, "SELECT sum(rows_done) AS n FROM pgkeel.backfill_ranges").catch(() => []))[0]?.n ?? 0);
const finished = async (url: string) => (await admin<{ done: boolean }>(url, "SELECT done FROM pgkeel.backfills").catch(() => []))[0]?.done === true;

async function terminateOne(url: string, pick: number): Promise<boolean> {
  const rows = await admin<{ pid: number }>(
    withDatabase(serverUrl(), "postgres"),
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'pgkeel:%' ORDER BY pid`,
    [new URL(url).pathname.slice(1)],
  );
  if (!rows.length) return false;
  const pid = rows[Math.floor(pick * rows.length)]!.pid;
  await admin(withDatabase(serverUrl(), "postgres"), "SELECT pg_terminate_backend($1)", [pid]);
  return true;
}

describe("worker processes under SIGKILL and backend termination: every row changed exactly once", { timeout: 180_000 }, () => {
  it.each([
    [2, 5101],
    [4, 5102],
  ])("%i processes of 2 workers each (seed %i)", async (processes, seed) => {
    const url = await freshDatabase(`bf_workers_${processes}`);
    await admin(url, `${countersTable(40_000)}; ANALYZE counters`);
    const cwd = makeProject({
      // A long lock_timeout: the last key is held (below) until the faults are done.
      "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 2, lockTimeout: "10min" }),
      "db/backfills/001_bump.sql": "-- pgkeel:backfill table=counters key=id batch=150 target=0\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
    });
    const random = mulberry32(seed);
    const live = new Map<number, ChildProcess>();
    const runs: Promise<CliRun & { killed: boolean }>[] = [];
    const log: string[] = [];
    onTestFailed(() => console.error(`seed ${seed}:\n${log.join("\n")}`));
    let started = 0;
    const start = () => {
      const n = ++started;
      let killed = false;
      runs.push(
        runCli(["backfill", "--workers", "2", "--url", url], {
          cwd,
          onSpawn: (child) => {
            live.set(n, child);
            child.once("exit", () => live.delete(n));
            (child as ChildProcess & { markKilled?: () => void }).markKilled = () => (killed = true);
          },
        }).then((r) => ({ ...r, killed })),
      );
    };
    // The test holds the last key's row: the backfill cannot finish before the faults are
    // done, however fast the machine (the batch that reaches it waits; the rest goes on).
    const pg = await import("pg");
    const holder = new pg.default.Client({ connectionString: url });
    await holder.connect();
    await holder.query("BEGIN; SELECT 1 FROM counters WHERE id = (SELECT max(id) FROM counters) FOR UPDATE");
    for (let i = 0; i < processes; i++) start();

    let kills = 0;
    let terminations = 0;
    const stalled = async () => (await rowsDone(url)) >= 40_000 - 150; // all but the batch that waits on the held row
    try {
      while (kills + terminations < 12) {
        const before = await rowsDone(url);
        await until("more batches committed, or only the held batch left", async () => (await stalled()) || (await rowsDone(url)) >= before + 400);
        if ((await stalled()) && kills > 0 && terminations > 0) break;
        // The first fault is a SIGKILL, the second a termination, then either at random.
        const fault = kills + terminations;
        if ((fault === 0 || (fault > 1 && random() < 0.4)) && live.size) {
          const victims = [...live.values()];
          const child = victims[Math.floor(random() * victims.length)]! as ChildProcess & { markKilled?: () => void };
          child.markKilled?.();
          child.kill("SIGKILL");
          kills++;
          log.push(`SIGKILL pid ${child.pid} at ${before} rows; a replacement starts`);
          start();
        } else if (await terminateOne(url, random())) {
          terminations++;
          log.push(`pg_terminate_backend at ${before} rows`);
        }
      }
    } finally {
      await holder.query("COMMIT").catch(() => {});
      await holder.end();
    }
    const results = await Promise.all(runs);
    for (const r of results) {
      if (r.killed) expect(r.signal).toBe("SIGKILL");
      else expect(r.code, r.stderr).toBe(0);
    }
    expect(await countersCheck(url)).toEqual({ n: 40_000, wrong: 0 });
    expect(await admin(url, "SELECT done, rows_done::int AS rows FROM pgkeel.backfills")).toEqual([{ done: true, rows: 40_000 }]);
    expect(kills).toBeGreaterThan(0);
    expect(terminations).toBeGreaterThan(0);
    // The key space was split from the key's statistics into ranges enough for every worker.
    expect((await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pgkeel.backfill_ranges WHERE done"))[0]!.n).toBeGreaterThanOrEqual(processes * 2);
  });
});
