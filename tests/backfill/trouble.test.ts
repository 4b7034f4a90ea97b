import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createKeel, type KeelEvent } from "../../src/index.js";
import { admin, freshDatabase } from "../support/db.js";
import { countersTable } from "../support/counters.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * Batches that run into statement_timeout or lock_timeout. The trouble is made
 * deterministic: a trigger that sleeps far past the timeout for chosen keys, or
 * a row lock the test holds for the whole run; never a race with the clock.
 */
const bump = (header: string) => `-- pgkeel:backfill table=counters key=id ${header}\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n`;
const hits = (url: string) =>
  admin<{ key: number; hits: number }>(url, "SELECT min(id)::int AS key, hits FROM counters GROUP BY hits ORDER BY 1").then((rows) => rows.map((r) => [r.key, r.hits]));

const clients: pg.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => {});
});

describe("a batch that keeps timing out is split, down to one key", { timeout: 60_000 }, () => {
  it("a batch holding keys 100 and 101 together always times out: it is split until they are apart, and every row is changed once", async () => {
    const url = await freshDatabase("bf_split");
    const db = new URL(url).pathname.slice(1);
    await admin(
      url,
      `${countersTable(300)};
       CREATE FUNCTION slow_pair() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF (SELECT count(*) FROM changed WHERE id IN (100, 101)) = 2 THEN PERFORM pg_sleep(30); END IF;
         RETURN NULL;
       END $$;
       CREATE TRIGGER slow_pair AFTER UPDATE ON counters REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION slow_pair();
       ALTER DATABASE ${db} SET statement_timeout = '500ms';`,
    );
    const cwd = makeProject({ "db/backfills/001_bump.sql": bump("batch=16 target=0") });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    // 97..112 timed out twice, then 97..104, then 97..100 and 101..104 went through.
    expect(r.stderr).toMatch(/split 001_bump: the batch 97\.\.112 \(16 keys\) kept failing \(canceling statement due to statement timeout \(SQLSTATE 57014\)\); trying it in pieces of 8 keys/);
    expect(r.stderr).toMatch(/split 001_bump: the batch 97\.\.104 \(8 keys\) kept failing .*pieces of 4 keys/);
    expect(await hits(url)).toEqual([[1, 1]]);
  });

  it("with a fixed size (target=0) a split lasts for its range: the next ranges run at batch= again", async () => {
    const url = await freshDatabase("bf_split_range");
    const db = new URL(url).pathname.slice(1);
    // Keys 120 and 121 in one statement time out; five ranges of about 1,000 keys at batch=50.
    await admin(
      url,
      `${countersTable(5000)};
       CREATE FUNCTION slow_pair() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF (SELECT count(*) FROM changed WHERE id IN (120, 121)) = 2 THEN PERFORM pg_sleep(30); END IF; RETURN NULL; END $$;
       CREATE TRIGGER slow_pair AFTER UPDATE ON counters REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION slow_pair();
       ALTER DATABASE ${db} SET statement_timeout = '300ms'`,
    );
    await admin(url, "ANALYZE counters");
    const cwd = makeProject({ "db/backfills/001_bump.sql": bump("batch=50 target=0") });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/split 001_bump: the batch 101\.\.150 \(50 keys\)/);
    const ranges = await admin<{ range: number; lo: string | null; batches: number; rows: number }>(
      url,
      "SELECT range, lo, batches, rows_done::int AS rows FROM pgkeel.backfill_ranges ORDER BY range",
    );
    expect(ranges.length).toBeGreaterThanOrEqual(4);
    // Every range but the one holding 120 and 121 ran whole batches of 50 (one short batch at its end).
    for (const x of ranges.filter((x) => x.lo !== null)) expect(x.batches, JSON.stringify(x)).toBe(Math.ceil(x.rows / 50));
    expect(await hits(url)).toEqual([[1, 1]]);
  });

  it("one key that always times out stops the run naming it; nothing before it is lost, nothing after it is touched, and a rerun finishes once it is fixed", async () => {
    const url = await freshDatabase("bf_key_timeout");
    const db = new URL(url).pathname.slice(1);
    await admin(
      url,
      `${countersTable(300)};
       CREATE FUNCTION slow_key() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 150 THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;
       CREATE TRIGGER slow_key BEFORE UPDATE ON counters FOR EACH ROW EXECUTE FUNCTION slow_key();
       ALTER DATABASE ${db} SET statement_timeout = '500ms';`,
    );
    const cwd = makeProject({ "db/backfills/001_bump.sql": bump("batch=8 target=0") });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /backfill 001_bump \(db\/backfills\/001_bump\.sql\): key 150 \(the batch from 150 to 150, one key\) still fails on its own: canceling statement due to statement timeout \(SQLSTATE 57014\) HINT: nothing of this key was applied/,
    );
    expect(await hits(url)).toEqual([
      [1, 1],
      [150, 0],
    ]);
    await admin(url, "DROP TRIGGER slow_key ON counters");
    const again = await runCli(["backfill", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await hits(url)).toEqual([[1, 1]]);
  });

  it("one key locked by another session for the whole run: lock timeouts split the batch down to that key, which stops the run naming it", async () => {
    const url = await freshDatabase("bf_key_lock");
    await admin(url, countersTable(300));
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    clients.push(holder);
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM counters WHERE id = 150 FOR UPDATE");
    const cwd = makeProject({ "pgkeel.config.json": JSON.stringify({ lockTimeout: "200ms" }), "db/backfills/001_bump.sql": bump("batch=8 target=0") });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/split 001_bump: the batch 145\.\.152 \(8 keys\) kept failing \(canceling statement due to lock timeout \(SQLSTATE 55P03\)\)/);
    expect(r.stderr).toMatch(/key 150 \(the batch from 150 to 150, one key\) still fails on its own: canceling statement due to lock timeout \(SQLSTATE 55P03\)/);
    expect(await hits(url)).toEqual([
      [1, 1],
      [150, 0],
    ]);
    await holder.query("COMMIT");
    const again = await runCli(["backfill", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await hits(url)).toEqual([[1, 1]]);
  });

  it("a never-analysed table behind an ACCESS EXCLUSIVE lock: the row estimate waits no longer than lockTimeout, the batches wait their turn, and the backfill finishes once the lock goes", async () => {
    const url = await freshDatabase("bf_unanalysed_lock");
    // No statistics, and none coming: the estimate must read the table (EXPLAIN, a bounded count).
    await admin(url, `${countersTable(1000)}; ALTER TABLE counters SET (autovacuum_enabled = false)`);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    clients.push(holder);
    await holder.query("BEGIN");
    await holder.query("LOCK TABLE counters IN ACCESS EXCLUSIVE MODE");
    const cwd = makeProject({ "pgkeel.config.json": JSON.stringify({ lockTimeout: "300ms" }), "db/backfills/001_bump.sql": bump("batch=100 target=0") });
    let stderr = "";
    const run = runCli(["backfill", "--url", url], { cwd, onStderr: (soFar) => (stderr = soFar) });
    // Past the estimate (it gave up after 300 ms), the first batch's plan waits under its lock
    // timeout too, and each try is reported.
    await until("the first batch's plan retried behind the lock", () => /retry plan batch of 001_bump: attempt 1 failed \(lock-timeout: 55P03/.test(stderr));
    expect(stderr).toMatch(/backfilling 001_bump on counters \(size unknown\)/);
    await holder.query("COMMIT");
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(await hits(url)).toEqual([[1, 1]]);
  });
});

/** Runs the bump backfill with `header` in this process; the size after each batch, in order. */
async function batchSizes(url: string, header: string): Promise<number[]> {
  const cwd = makeProject({ "db/backfills/001_bump.sql": bump(header) });
  const events: KeelEvent[] = [];
  const keel = createKeel({ url, cwd, onEvent: (e) => events.push(e) });
  try {
    await keel.backfill();
  } finally {
    await keel.close();
  }
  return events.flatMap((e) => (e.type === "backfill-progress" ? [e.batchSize] : []));
}

describe("batch= is the ceiling of the adaptive size; max= raises it", () => {
  it.each([
    ["batch=10 target=10s", 10, 10],
    ["batch=10 max=40 target=10s", 40, 40],
  ])("%s: batches of at most %i keys", async (header, ceiling, reached) => {
    const url = await freshDatabase("bf_ceiling");
    await admin(url, countersTable(1000));
    // A 10 s target makes every batch "fast", so the size grows as far as it may.
    const sizes = await batchSizes(url, header);
    expect(Math.max(...sizes)).toBe(reached);
    expect(sizes.every((s) => s <= ceiling)).toBe(true);
    expect(await hits(url)).toEqual([[1, 1]]);
  });

  it("the size a worker learned carries from one key range to the next instead of starting small again", async () => {
    const url = await freshDatabase("bf_pace");
    // 20,000 keys at batch=100: twenty ranges of about 1,000 keys each.
    await admin(url, countersTable(20_000));
    const sizes = await batchSizes(url, "batch=100 max=100000 target=60s");
    const [ranges] = await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pgkeel.backfill_ranges");
    expect(ranges!.n).toBeGreaterThanOrEqual(10);
    // A 60 s target makes every batch "fast": the size only grows, across ranges too.
    expect(sizes.filter((s, i) => i > 0 && s < sizes[i - 1]!)).toEqual([]);
    // Beyond one range's length: only a size that survived the range ends gets there.
    expect(Math.max(...sizes)).toBeGreaterThan(20_000 / ranges!.n);
    expect(await hits(url)).toEqual([[1, 1]]);
  });

  it("max= below batch= is refused, naming the file", async () => {
    const url = await freshDatabase("bf_ceiling_bad");
    await admin(url, countersTable(10));
    const cwd = makeProject({ "db/backfills/001_bump.sql": bump("batch=100 max=50") });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/001_bump\.sql:1:1: max= needs a whole number of rows of at least batch= \(100\), got "50"/);
  });
});
