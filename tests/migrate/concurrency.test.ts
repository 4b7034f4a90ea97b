import { describe, expect, it } from "vitest";
import { admin, bouncerSkip, bouncerUrl, freshDatabase, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * Many deploy pods at once: separate OS processes of the built CLI against one
 * database, directly and through PgBouncer in transaction mode.
 */
function suite(): Record<string, string> {
  const files: Record<string, string> = {
    "db/migrations/000_base.sql": "CREATE TABLE runs (n int NOT NULL); CREATE TABLE wide (id int);",
  };
  for (let i = 1; i <= 12; i++) {
    files[`db/migrations/${String(i).padStart(3, "0")}_m.sql`] =
      i === 6
        ? "-- pgkeel:no-transaction\nCREATE INDEX CONCURRENTLY wide_id_idx ON wide (id);\nINSERT INTO runs VALUES (6);"
        : `ALTER TABLE wide ADD COLUMN c${i} int;\nINSERT INTO runs VALUES (${i});${i % 4 === 0 ? "\nSELECT pg_sleep(0.2);" : ""}`;
  }
  return files;
}

async function expectAppliedOnce(url: string): Promise<void> {
  const runs = await admin<{ n: number; c: number }>(url, "SELECT n, count(*)::int AS c FROM runs GROUP BY n ORDER BY n");
  expect(runs).toEqual([...Array(12).keys()].map((i) => ({ n: i + 1, c: 1 })));
  expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 13 }]);
  expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.claims")).toEqual([{ n: 0 }]);
}

describe("8 runners at once", () => {
  it("directly: all exit 0, each migration applied once", async () => {
    const url = await freshDatabase("conc_direct");
    const cwd = makeProject(suite());
    const runs = await Promise.all(Array.from({ length: 8 }, () => runCli(["migrate", "--url", url], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    await expectAppliedOnce(url);
    // Work was shared: some runners found migrations applied by others.
    expect(runs.some((r) => r.stderr.includes("applied by another runner") || r.stderr.includes("0 applied"))).toBe(true);
  });

  it("through PgBouncer in transaction mode: all exit 0, each migration applied once", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const direct = await freshDatabase("conc_bouncer");
    const viaBouncer = withDatabase(bouncerUrl(), new URL(direct).pathname.slice(1));
    const cwd = makeProject(suite());
    const runs = await Promise.all(Array.from({ length: 8 }, () => runCli(["migrate", "--url", viaBouncer], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    await expectAppliedOnce(direct);
  });
});

describe("a runner killed with SIGKILL", () => {
  it("mid transactional migration: the next run completes with no manual step", async () => {
    const url = await freshDatabase("kill_tx");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_slow.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(2);",
      "db/migrations/003_c.sql": "CREATE TABLE c (id int);",
    });
    // By wait event: the query text in pg_stat_activity is cut at 1 kB, before the sleep in a batch.
    const sleeping = async () =>
      (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")).length > 0;
    const killed = await runCli(["migrate", "--url", url], { cwd, killWhen: sleeping });
    expect(killed.signal, `${killed.code} ${killed.stderr}`).toBe("SIGKILL");
    const again = await runCli(["migrate", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "001_a" }, { name: "002_slow" }, { name: "003_c" }]);
  });

  it("mid non-transactional migration: its claim lapses within the claim lifetime and the next run resumes at the first unrecorded statement", async () => {
    const url = await freshDatabase("kill_notx");
    const cwd = makeProject({
      // Long enough that the next run, started at once, finds the claim still held on a
      // loaded machine (at 3 s a slow CLI start saw it lapsed and never waited).
      "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 10 }),
      "db/migrations/001_steps.sql": "-- pgkeel:no-transaction\nCREATE TABLE s1 (id int);\nSELECT pg_sleep(2);\nCREATE TABLE s2 (id int);",
    });
    // Killed once the first statement is recorded and the second (the sleep) runs.
    const midStep = async () =>
      (await admin(url, "SELECT 1 FROM pgkeel.migration_steps WHERE step = 0")).length > 0 &&
      (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")).length > 0;
    const killed = await runCli(["migrate", "--url", url], { cwd, killWhen: midStep });
    expect(killed.signal).toBe("SIGKILL");
    // The dead runner's claim is live, and lapses within the claim lifetime: nobody must clear it.
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.claims WHERE expires_at > now() AND expires_at <= now() + interval '10 s'")).toEqual([{ n: 1 }]);
    const again = await runCli(["migrate", "--url", url], { cwd });
    // CREATE TABLE s1 is not idempotent: exit 0 shows it was not run again.
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("waiting");
    expect(await admin(url, "SELECT to_regclass('s2') IS NOT NULL AS ok")).toEqual([{ ok: true }]);
    expect(await admin(url, "SELECT step FROM pgkeel.migration_steps ORDER BY step")).toEqual([{ step: 0 }, { step: 1 }, { step: 2 }]);
  });
});
