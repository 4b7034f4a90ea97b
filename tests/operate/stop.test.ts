import { describe, expect, it } from "vitest";
import { createKeel, StoppedError } from "../../src/index.js";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { startCli, until } from "./cli.js";

const sleeping = (url: string) => async () =>
  (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")).length > 0;

// A long claim lifetime: a runner that left its claim behind would make the next one wait two minutes.
const config = { "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 120 }) };

describe("graceful stop", () => {
  it("SIGTERM mid non-transactional migration: the statement in flight finishes, nothing new starts, the claim is released, exit 143; the next runner goes on at once", async () => {
    const url = await freshDatabase("stop_term");
    const cwd = makeProject({
      ...config,
      "db/migrations/001_steps.sql": "-- pgkeel:no-transaction\nCREATE TABLE s1 (id int);\nSELECT pg_sleep(1.5);\nCREATE TABLE s2 (id int);",
      "db/migrations/002_next.sql": "CREATE TABLE next (id int);",
    });
    const a = startCli(["migrate", "--url", url], cwd);
    await until("statement 2 running", sleeping(url));
    a.child.kill("SIGTERM");
    const stopped = await a.done;
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stderr).toContain("SIGTERM: stopping");
    expect(stopped.stderr).toMatch(/stopped by SIGTERM .*migrate: done nothing; left 001_steps, 002_next/);
    // The sleep finished and was recorded; the third statement never started.
    expect(await admin(url, "SELECT step FROM pgkeel.migration_steps ORDER BY step")).toEqual([{ step: 0 }, { step: 1 }]);
    expect(await admin(url, "SELECT to_regclass('s2') AS t")).toEqual([{ t: null }]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.claims")).toEqual([{ n: 0 }]);

    const t = Date.now();
    const b = await runCli(["migrate", "--url", url], { cwd });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).not.toContain("waiting");
    expect(Date.now() - t).toBeLessThan(60_000);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "001_steps" }, { name: "002_next" }]);
  });

  it("SIGINT mid backfill: the batch in flight commits, the claim is released, exit 130; the next runner resumes at once and no row is done twice", async () => {
    const url = await freshDatabase("stop_int");
    const cwd = makeProject({
      ...config,
      "db/migrations/001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);\nINSERT INTO t (id) SELECT generate_series(1, 400);",
      "db/backfills/001_bump.sql":
        "-- pgkeel:backfill table=t key=id batch=100 target=0\nUPDATE t SET n = n + 1 WHERE id BETWEEN :from AND :to AND (SELECT true FROM pg_sleep(0.4));",
    });
    const a = startCli(["run", "--url", url], cwd);
    await until("a batch running", sleeping(url));
    a.child.kill("SIGINT");
    const stopped = await a.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(/stopped by SIGINT .*backfill: done nothing; left 001_bump/);
    const [cp] = await admin<{ rows_done: string; done: boolean }>(url, "SELECT (SELECT sum(rows_done) FROM pgkeel.backfill_ranges) AS rows_done, done FROM pgkeel.backfills");
    expect(cp!.done).toBe(false);
    expect(Number(cp!.rows_done)).toBeGreaterThan(0);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.claims")).toEqual([{ n: 0 }]);

    const b = await runCli(["run", "--url", url], { cwd });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).not.toContain("waiting");
    expect(await admin(url, "SELECT n, count(*)::int AS c FROM t GROUP BY n")).toEqual([{ n: 1, c: 400 }]);
  });

  it("a second signal exits at once, without waiting for the statement in flight", async () => {
    const url = await freshDatabase("stop_twice");
    const cwd = makeProject({ ...config, "db/migrations/001_slow.sql": "-- pgkeel:no-transaction\nSELECT pg_sleep(60);" });
    const a = startCli(["migrate", "--url", url], cwd);
    await until("the statement running", sleeping(url));
    const t = Date.now();
    a.child.kill("SIGTERM");
    await until("the first signal taken", () => a.stderr().includes("stopping"));
    a.child.kill("SIGTERM");
    const r = await a.done;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain("SIGTERM again: exiting at once");
    expect(Date.now() - t).toBeLessThan(30_000);
  });

  it("library: aborting the keel's signal stops after the unit in flight and rejects with a StoppedError naming what was done and left", async () => {
    const url = await freshDatabase("stop_lib");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_slow.sql": "-- pgkeel:no-transaction\nSELECT pg_sleep(0.5);\nCREATE TABLE b (id int);",
      "db/migrations/003_c.sql": "CREATE TABLE c (id int);",
    });
    const ctl = new AbortController();
    const keel = createKeel({
      url,
      cwd,
      signal: ctl.signal,
      onEvent: (e) => {
        if (e.type === "migration-start" && e.name === "002_slow") ctl.abort("SIGTERM");
      },
    });
    try {
      const err = await keel.migrate().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoppedError);
      expect((err as StoppedError).exitCode).toBe(143);
      expect((err as StoppedError).progress).toEqual([{ phase: "migrate", done: ["001_a"], left: ["002_slow", "003_c"] }]);
    } finally {
      await keel.close();
    }
    expect(await admin(url, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_a" }]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.claims")).toEqual([{ n: 0 }]);
  });
});
