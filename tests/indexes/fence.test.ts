import pg from "pg";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * Index builds and rebuilds with several runners and foreign sessions at once
 * (SPEC guarantee 3): a valid index stands at every moment of a rebuild, the swap
 * happens once, an index is judged on its own table, and a build is reported as
 * this run's only when this run built it.
 */

const declaredV2 = "CREATE UNIQUE INDEX r_a_key ON r (a) INCLUDE (b);\nCREATE INDEX r_b_idx ON r (b, a);";

/**
 * Samples the catalog from its own connection until stopped: each sample counts,
 * per declared index, the valid indexes under its name or its replacement's
 * (a unique one must be unique). Returns the samples where one had none.
 */
function sampleCatalog(url: string): { stop: () => Promise<{ samples: number; gaps: string[] }> } {
  const client = new pg.Client({ connectionString: url });
  let running = true;
  let samples = 0;
  const gaps: string[] = [];
  const loop = (async () => {
    await client.connect();
    while (running) {
      const rows = (
        await client.query<{ name: string; valid: number }>(
          `SELECT d.name, count(i.indexrelid) FILTER (WHERE i.indisvalid AND i.indisready AND (i.indisunique OR NOT d.uniq))::int AS valid
             FROM (VALUES ('r_a_key', true), ('r_b_idx', false)) AS d(name, uniq)
             LEFT JOIN pg_class c ON c.relname IN (d.name, d.name || '_pgkeel_new') AND c.relkind = 'i'
             LEFT JOIN pg_index i ON i.indexrelid = c.oid AND i.indrelid = 'r'::regclass
            GROUP BY d.name`,
        )
      ).rows;
      samples++;
      for (const r of rows) if (r.valid === 0) gaps.push(`sample ${samples}: no valid ${r.name}`);
    }
    await client.end();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { samples, gaps };
    },
  };
}

describe("indexes --rebuild-changed with several runners at once", () => {
  it.each([2, 4])("%i processes: a valid index (UNIQUE kept unique) stands at every sample, the swap happens once, nothing is left over", async (n) => {
    const url = await freshDatabase("idx_rebuild_race");
    await admin(
      url,
      `CREATE TABLE r (id int PRIMARY KEY, a int NOT NULL, b text);
       INSERT INTO r SELECT g, g, md5(g::text) FROM generate_series(1, 200000) g;
       CREATE UNIQUE INDEX r_a_key ON r (a);
       CREATE INDEX r_b_idx ON r (b);`,
    );
    const cwd = makeProject({ "db/indexes/r.sql": declaredV2 });
    // A reader of r (production traffic) holds every DROP INDEX CONCURRENTLY of r until each
    // runner has either reached the swap of r_a_key or is waiting for the one that has:
    // the moment two swaps could overlap.
    const reader = new pg.Client({ connectionString: url });
    await reader.connect();
    await reader.query("SET enable_seqscan = off; BEGIN; SELECT a FROM r WHERE a = 1");
    const sampler = sampleCatalog(url);
    const stderr: string[] = Array.from({ length: n }, () => "");
    const running = Array.from({ length: n }, (_, i) =>
      runCli(["indexes", "--rebuild-changed", "--url", url], { cwd, onStderr: (e) => (stderr[i] = e) }),
    );
    try {
      await until("every runner at the swap of r_a_key or waiting for its holder", async () => {
        const [blocked] = await admin<{ n: number }>(
          url,
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'DROP INDEX%' AND wait_event_type = 'Lock'",
        );
        const waiting = stderr.filter((e) => e.includes("waiting: index r_a_key is")).length;
        return blocked!.n >= 1 && blocked!.n + waiting >= n;
      });
    } finally {
      await reader.end();
    }
    const runs = await Promise.all(running);
    const { samples, gaps } = await sampler.stop();
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(gaps.slice(0, 5)).toEqual([]);
    expect(samples).toBeGreaterThan(20);
    expect(await admin(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'r' ORDER BY 1")).toEqual([
      { indexname: "r_a_key", indexdef: "CREATE UNIQUE INDEX r_a_key ON public.r USING btree (a) INCLUDE (b)" },
      { indexname: "r_b_idx", indexdef: "CREATE INDEX r_b_idx ON public.r USING btree (b, a)" },
      { indexname: "r_pkey", indexdef: "CREATE UNIQUE INDEX r_pkey ON public.r USING btree (id)" },
    ]);
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(status.stdout).indexes.map((i: { state: string }) => i.state)).toEqual(["valid", "valid"]);
    // One runner swapped each index; the others found it done.
    const output = runs.map((r) => r.stderr).join("\n");
    expect(output.match(/built r_a_key /g)).toHaveLength(1);
    expect(output.match(/built r_b_idx /g)).toHaveLength(1);
  });
});

describe("an index is judged on its own table", () => {
  it("an index of the declared name on another table is not taken as built, and its INVALID twin there is not dropped", async () => {
    const url = await freshDatabase("idx_other_table");
    await admin(url, "CREATE TABLE t1 (a int); CREATE TABLE t2 (b int); INSERT INTO t1 VALUES (1), (1); CREATE INDEX foo ON t1 (a)");
    const cwd = makeProject({ "db/indexes/t2.sql": "CREATE INDEX foo ON t2 (b);" });
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(status.stdout).indexes).toEqual([expect.objectContaining({ name: "foo", state: "missing" })]);
    const r = await runCli(["indexes", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("db/indexes/t2.sql:1");
    expect(r.stderr).toContain('relation "foo" already exists');
    // An INVALID foo on t1 (a failed unique build) belongs to t1: left alone.
    await admin(url, "DROP INDEX foo");
    await admin(url, "CREATE UNIQUE INDEX CONCURRENTLY foo ON t1 (a)").catch(() => {});
    const again = await runCli(["indexes", "--url", url], { cwd });
    expect(again.code).toBe(1);
    expect(await admin(url, "SELECT indrelid::regclass::text AS t, indisvalid FROM pg_index WHERE indexrelid = 'foo'::regclass")).toEqual([{ t: "t1", indisvalid: false }]);
  });
});

describe("who built it", () => {
  it("an index another session built while pgkeel waited is not reported as built by this run", async () => {
    const url = await freshDatabase("idx_foreign");
    await admin(url, "CREATE TABLE s (id int PRIMARY KEY, code text); INSERT INTO s SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
    // An open writing transaction holds the foreign build in its first wait, so pgkeel meets it running.
    const writer = new pg.Client({ connectionString: url });
    const foreign = new pg.Client({ connectionString: url });
    await writer.connect();
    await foreign.connect();
    try {
      await writer.query("BEGIN; INSERT INTO s VALUES (0, 'w')");
      const build = foreign.query("CREATE INDEX CONCURRENTLY s_code_idx ON s (code)");
      await until("the foreign build to be under way", async () => (await admin(url, "SELECT 1 FROM pg_stat_progress_create_index")).length > 0);
      const cwd = makeProject({ "db/indexes/s.sql": "CREATE INDEX s_code_idx ON s (code);" });
      const run = runCli(["indexes", "--json", "--url", url], { cwd });
      await until("pgkeel to claim the index", async () => (await admin(url, "SELECT 1 FROM pgkeel.claims WHERE key LIKE 'index:%s_code_idx'")).length > 0);
      await writer.query("COMMIT");
      await build;
      const r = await run;
      expect(r.code, r.stderr).toBe(0);
      const done = r.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.type === "index-done");
      expect(done).toEqual([expect.objectContaining({ name: "s_code_idx", by: "another-runner" })]);
      expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.index_builds")).toEqual([{ n: 0 }]);
    } finally {
      await writer.end();
      await foreign.end();
    }
  });
});
