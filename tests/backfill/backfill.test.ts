import { afterAll, describe, expect, it } from "vitest";
import { createKeel, type KeelEvent } from "../../src/index.js";
import { admin, bouncerSkip, bouncerUrl, freshDatabase, withDatabase } from "../support/db.js";
import { chaosKeel } from "../support/chaos.js";
import { makeProject, runCli } from "../support/project.js";
import { FaultProxy } from "../support/proxy.js";

/**
 * Backfills against a real server. The statement is not idempotent
 * (hits = hits + 1), so a key range applied twice, or skipped, shows.
 */
const counters = (rows: number) =>
  `CREATE TABLE counters (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0);
   INSERT INTO counters (id) SELECT g * 3 FROM generate_series(1, ${rows}) g;`;
const bump = (header: string) => `-- pgkeel:backfill table=counters key=id ${header}\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n`;

async function hitsCheck(url: string, table = "counters") {
  return (await admin<{ n: number; wrong: number }>(url, `SELECT count(*)::int AS n, count(*) FILTER (WHERE hits <> 1)::int AS wrong FROM ${table}`))[0]!;
}

// One retry per seed: timing under full-suite load varies (adaptive seeds size their
// batches by time), and a wrong result is deterministic per seed, so it still fails.
// The events printed on failure show what a slow or failing seed was doing.
describe("chaos: every key range applied exactly once through dropped connections and cut COMMITs", { retry: 1, timeout: 30_000 }, () => {
  const seeds = Array.from({ length: 20 }, (_, i) => 2000 + i);
  let totalFaults = 0;
  afterAll(() => {
    expect(totalFaults).toBeGreaterThan(60);
  });
  it.each(seeds)("seed %i", async (seed) => {
    const url = await freshDatabase(`bf_chaos_${seed}`);
    await admin(url, counters(6000));
    const cwd = makeProject({ "db/backfills/001_bump.sql": bump(seed % 2 ? "batch=250 target=0" : "batch=200 target=30ms") });
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    const keel = chaosKeel(proxy.url(url), cwd, seed);
    try {
      await keel.status();
      proxy.startChaos(seed, 0.1);
      // COMMIT cuts on top of the random faults: the reply to a committed batch never arrives.
      proxy.cutAfterCommit(3 + (seed % 5));
      await keel.backfill();
    } finally {
      await keel.close();
      totalFaults += proxy.stopChaos() + (proxy.faults > 0 ? 1 : 0);
      await proxy.stop();
    }
    expect(await hitsCheck(url)).toEqual({ n: 6000, wrong: 0 });
    expect(await admin(url, "SELECT done, rows_done::int AS rows FROM pgkeel.backfills")).toEqual([{ done: true, rows: 6000 }]);
  });
});

describe("key types", () => {
  const types: [string, string, string][] = [
    ["integer", "int", "SELECT g * 7 FROM generate_series(1, 300) g"],
    ["bigint", "bigint", "SELECT 9000000000000 + g * g FROM generate_series(1, 300) g"],
    ["numeric", "numeric", "SELECT (g / 7.0)::numeric(12, 4) FROM generate_series(1, 300) g"],
    ["text with mixed case and non-ASCII", "text", "SELECT (ARRAY['a', 'B', 'é', 'Z', 'ß', 'ü', '日', 'Ab'])[1 + g % 8] || g FROM generate_series(1, 300) g"],
    ["uuid", "uuid", "SELECT md5(g::text)::uuid FROM generate_series(1, 300) g"],
    ["timestamp", "timestamp", "SELECT timestamp '2026-01-01' + g * interval '37 minutes 0.123456 seconds' FROM generate_series(1, 300) g"],
    ["timestamptz", "timestamptz", "SELECT timestamptz '2026-01-01 00:00+02' + g * interval '1 day 0.5 seconds' FROM generate_series(1, 300) g"],
  ];
  it.each(types)("%s", async (_label, type, keys) => {
    const url = await freshDatabase("bf_types");
    await admin(url, `CREATE TABLE t (k ${type} PRIMARY KEY, hits int NOT NULL DEFAULT 0); INSERT INTO t (k) ${keys}`);
    const cwd = makeProject({ "db/backfills/001.sql": "-- pgkeel:backfill table=t key=k batch=7 target=0\nUPDATE t SET hits = hits + 1 WHERE k BETWEEN :from AND :to;" });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await hitsCheck(url, "t")).toEqual({ n: 300, wrong: 0 });
    // Batches of 7 within each key range: a range's last batch may be short.
    const [{ batches, ranges }] = await admin<{ batches: number; ranges: number }>(url, "SELECT (SELECT batches FROM pgkeel.backfills) AS batches, (SELECT count(*)::int FROM pgkeel.backfill_ranges) AS ranges");
    expect(batches).toBeGreaterThanOrEqual(Math.ceil(300 / 7));
    expect(batches).toBeLessThanOrEqual(Math.ceil(300 / 7) + ranges - 1);
  });
});

describe("runners", () => {
  it("SIGKILL mid-backfill, then a rerun resumes from the checkpoint: every row exactly once", async () => {
    const url = await freshDatabase("bf_kill");
    await admin(url, counters(20000));
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ claimTtlSeconds: 2 }),
      "db/backfills/001_bump.sql": bump("batch=500 target=0 pause=40ms"),
    });
    const killed = await runCli(["backfill", "--url", url], { cwd, killWhen: async () => Number((await admin<{ r: string }>(url, "SELECT sum(rows_done) AS r FROM pgkeel.backfill_ranges").catch(() => []))[0]?.r ?? 0) >= 3000 });
    expect(killed.signal).toBe("SIGKILL");
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    const mid = JSON.parse(status.stdout).backfills[0];
    expect(mid.state).toBe("partial");
    expect(mid.rows).toBeGreaterThanOrEqual(3000);
    expect(mid.rows).toBeLessThan(20000);
    const again = await runCli(["backfill", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/done before/);
    expect(await hitsCheck(url)).toEqual({ n: 20000, wrong: 0 });
  });

  it("four processes at once: every row exactly once, all exit 0", async () => {
    const url = await freshDatabase("bf_four");
    await admin(url, counters(20000) + "CREATE TABLE other (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0); INSERT INTO other (id) SELECT generate_series(1, 5000);");
    const cwd = makeProject({
      "db/backfills/001_bump.sql": bump("batch=300"),
      "db/backfills/002_other.sql": "-- pgkeel:backfill table=other key=id batch=200\nUPDATE other SET hits = hits + 1 WHERE id BETWEEN :from AND :to;",
    });
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(["run", "--url", url], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await hitsCheck(url)).toEqual({ n: 20000, wrong: 0 });
    expect(await hitsCheck(url, "other")).toEqual({ n: 5000, wrong: 0 });
  });

  it("four processes running all three phases through PgBouncer in transaction mode: each unit applied once", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const direct = await freshDatabase("bf_bouncer");
    const viaBouncer = withDatabase(bouncerUrl(), new URL(direct).pathname.slice(1));
    const cwd = makeProject({
      "db/migrations/001_counters.sql": counters(20000) + "\nCREATE TABLE runs (n int NOT NULL);",
      "db/migrations/002_log.sql": "INSERT INTO runs VALUES (2);",
      "db/indexes/counters.sql": "CREATE INDEX counters_hits_idx ON counters (hits, id);",
      "db/backfills/001_bump.sql": bump("batch=300"),
    });
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(["run", "--url", viaBouncer], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await admin(direct, "SELECT count(*)::int AS n FROM runs")).toEqual([{ n: 1 }]);
    expect(await admin(direct, "SELECT index_name, count(*)::int AS n FROM pgkeel.index_builds GROUP BY 1")).toEqual([{ index_name: "counters_hits_idx", n: 1 }]);
    expect(await hitsCheck(direct)).toEqual({ n: 20000, wrong: 0 });
  });

  it("a code backfill gets the batch's transaction and range", async () => {
    const url = await freshDatabase("bf_code");
    await admin(url, counters(1000));
    const cwd = makeProject({
      "db/backfills/001_code.mjs": `export default {
        table: "counters", key: "id", batch: 64,
        async run(tx, range) {
          await tx.sql("UPDATE counters SET hits = hits + 1 WHERE id BETWEEN $1 AND $2", [range.from, range.to]);
        },
      };`,
    });
    const events: KeelEvent[] = [];
    const keel = createKeel({ url, cwd, onEvent: (e) => events.push(e) });
    try {
      expect(await keel.backfill()).toEqual({ done: ["001_code"], skipped: [] });
    } finally {
      await keel.close();
    }
    expect(await hitsCheck(url)).toEqual({ n: 1000, wrong: 0 });
    const progress = events.filter((e) => e.type === "backfill-progress");
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ rowsDone: 1000 });
  });
});

describe("bad input: a clear error, nothing changed", () => {
  const cases: [string, string, string, RegExp][] = [
    ["missing key column", "", "-- pgkeel:backfill table=counters key=nope batch=10\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;", /001\.sql:1:1: table counters has no column nope/],
    ["key not unique", "CREATE INDEX ON counters (hits);", "-- pgkeel:backfill table=counters key=hits batch=10\nUPDATE counters SET hits = hits + 1 WHERE hits BETWEEN :from AND :to;", /key hits of counters needs a unique index/],
    ["key nullable", "ALTER TABLE counters ADD COLUMN u int UNIQUE;", "-- pgkeel:backfill table=counters key=u batch=10\nUPDATE counters SET hits = hits + 1 WHERE u BETWEEN :from AND :to;", /key u must be declared NOT NULL/],
    ["unknown header field", "", "-- pgkeel:backfill table=counters key=id batch=10 where=hits>0\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;", /001\.sql:1:1: unknown backfill field "where" \(there is no where=: filter in the statement\)/],
    ["statement without :to", "", "-- pgkeel:backfill table=counters key=id batch=10\nUPDATE counters SET hits = hits + 1\n WHERE id >= :from;", /001\.sql:2:1: the statement must use :to/],
    ["':from' only inside a string", "", "-- pgkeel:backfill table=counters key=id batch=10\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN 1 AND 2 AND ':from :to' <> '';", /the statement must use :from/],
    ["no header", "", "UPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;", /001\.sql:1:1: a backfill starts with a header/],
    ["two statements", "", "-- pgkeel:backfill table=counters key=id\nUPDATE counters SET hits = 1 WHERE id BETWEEN :from AND :to;\nSELECT 1;", /exactly one statement/],
  ];
  it.each(cases)("%s", async (_label, setup, file, message) => {
    const url = await freshDatabase("bf_bad");
    await admin(url, counters(100) + setup);
    const cwd = makeProject({ "db/migrations/001_m.sql": "CREATE TABLE should_not_exist_if_file_bad (id int);", "db/backfills/001.sql": file });
    const r = await runCli(["run", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(await admin(url, "SELECT count(*) FILTER (WHERE hits <> 0)::int AS touched FROM counters")).toEqual([{ touched: 0 }]);
  });
});

describe("adaptive batch size", () => {
  it("aims under the target, grows at most 1.25x a step, shrinks at once, stays within its floor and ceiling", async () => {
    const { nextSize } = await import("../../src/phases/backfill/run.js");
    expect(nextSize(1000, 10, 1000, 200, 1, 100_000)).toBe(1250);
    expect(nextSize(1000, 120, 1000, 200, 1, 100_000)).toBe(1000);
    expect(nextSize(1000, 400, 1000, 200, 1, 100_000)).toBe(300);
    expect(nextSize(1000, 5000, 1000, 200, 1, 100_000)).toBe(250);
    expect(nextSize(90_000, 1, 90_000, 200, 1, 100_000)).toBe(100_000);
    // A slow server does not shrink batches below the floor.
    expect(nextSize(120, 5000, 120, 200, 100, 10_000)).toBe(100);
    // A short batch (a range's tail) leaves the size alone, quick or not per row...
    expect(nextSize(1000, 10, 100, 200, 1, 100_000)).toBe(1000);
    expect(nextSize(1000, 4, 1, 200, 100, 1000)).toBe(1000);
    expect(nextSize(1000, 100, 250, 200, 1, 100_000)).toBe(1000);
    // ...unless it alone took longer than the aim (120 ms): then it is judged at its rate.
    expect(nextSize(1000, 150, 500, 200, 1, 100_000)).toBe(400);
    // Growth is at least one row: a size of 1 can grow back.
    expect(nextSize(1, 1, 1, 200, 1, 100)).toBe(2);
  });
});
