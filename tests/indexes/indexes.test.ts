import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, bouncerSkip, bouncerUrl, serverUrl, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * The indexes phase against a real server. A template database holds a table
 * big enough that a concurrent build takes over a second here, so builds can
 * be killed halfway; each test copies it.
 */
const template = `idx_template_${process.pid}`;
let copies = 0;

beforeAll(async () => {
  await admin(withDatabase(serverUrl(), "postgres"), `CREATE DATABASE ${template}`);
  await admin(
    withDatabase(serverUrl(), template),
    `CREATE TABLE big (id bigint PRIMARY KEY, email text NOT NULL, status text);
     INSERT INTO big SELECT g, md5(g::text) || '@example.com', CASE WHEN g % 3 = 0 THEN 'active' END FROM generate_series(1, 1200000) g;
     CREATE TABLE small (id int PRIMARY KEY, code text);
     INSERT INTO small VALUES (1, 'a'), (2, 'b'), (3, 'a')`,
  );
  await admin(withDatabase(serverUrl(), template), "VACUUM ANALYZE");
}, 180_000);

async function copy(): Promise<string> {
  const name = `idx_${process.pid}_${copies++}`;
  await admin(withDatabase(serverUrl(), "postgres"), `CREATE DATABASE ${name} TEMPLATE ${template}`);
  return withDatabase(serverUrl(), name);
}

const invalidIndexes = (url: string) =>
  admin<{ name: string }>(url, "SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid");
const builds = (url: string) =>
  admin<{ index_name: string; n: number }>(url, "SELECT index_name, count(*)::int AS n FROM pgkeel.index_builds GROUP BY 1 ORDER BY 1");

const bigIndexes = {
  "db/indexes/big.sql": "-- big table\nCREATE INDEX big_email_idx ON big (email);\nCREATE INDEX IF NOT EXISTS big_active_idx ON big (status, email) WHERE status = 'active';",
  "db/indexes/small.sql": "CREATE INDEX CONCURRENTLY small_code_idx ON small (code);",
};

describe("pgkeel indexes", () => {
  it("builds declared indexes concurrently, once; status says valid; a rerun does nothing", async () => {
    const url = await copy();
    const cwd = makeProject(bigIndexes);
    const r = await runCli(["indexes", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("built big_email_idx");
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).indexes.map((i: { name: string; state: string }) => [i.name, i.state])).toEqual([
      ["big_email_idx", "valid"],
      ["big_active_idx", "valid"],
      ["small_code_idx", "valid"],
    ]);
    const again = await runCli(["indexes", "--url", url], { cwd });
    expect(again.stderr).toContain("indexes: nothing to do");
    expect(await builds(url)).toEqual([
      { index_name: "big_active_idx", n: 1 },
      { index_name: "big_email_idx", n: 1 },
      { index_name: "small_code_idx", n: 1 },
    ]);
  });

  it.each([1, 2, 3])("backends terminated at random moments during builds (seed %i): every index ends valid, no INVALID index remains", async (seed) => {
    const url = await copy();
    const cwd = makeProject(bigIndexes);
    let kills = 0;
    let stop = false;
    const killer = (async () => {
      let s = seed;
      while (!stop && kills < 3) {
        s = (s * 9301 + 49297) % 233280;
        await new Promise((r) => setTimeout(r, 200 + (s % 700)));
        if (stop) break;
        const n = await admin<{ n: string }>(
          withDatabase(serverUrl(), "postgres"),
          `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
            WHERE datname = $1 AND application_name LIKE 'pgkeel:%' AND query ILIKE 'CREATE INDEX%' AND state = 'active'`,
          [new URL(url).pathname.slice(1)],
        );
        kills += Number(n[0]?.n ?? 0);
      }
    })();
    const r = await runCli(["indexes", "--url", url, "--retry-cap", "300"], { cwd });
    stop = true;
    await killer;
    expect(r.code, r.stderr).toBe(0);
    expect(kills).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/retry index .*57P01/);
    expect(await invalidIndexes(url)).toEqual([]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pg_indexes WHERE tablename IN ('big', 'small') AND indexname <> ALL ('{big_pkey,small_pkey}')")).toEqual([{ n: 3 }]);
  });

  it("reports build progress from pg_stat_progress_create_index as --json events", async () => {
    const url = await copy();
    const cwd = makeProject({ "db/indexes/big.sql": "CREATE INDEX big_email_idx ON big (email);" });
    // A snapshot older than the build holds it in its last phase ("waiting for old snapshots"),
    // after the table scans have set the block counts: the build is seen however fast the machine.
    const pg = await import("pg");
    const holder = new pg.default.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM small");
      let printed = "";
      const run = runCli(["indexes", "--json", "--url", url], { cwd, onStdout: (s) => (printed = s) });
      await until("the build waits for the old snapshot", async () =>
        (await admin<{ phase: string }>(url, "SELECT phase FROM pg_stat_progress_create_index")).some((r) => r.phase.startsWith("waiting for old snapshots")),
      );
      await until("pgkeel reported the waiting build", () => printed.includes('"waiting for old snapshots'));
      await holder.query("COMMIT");
      const r = await run;
      expect(r.code, r.stderr).toBe(0);
      const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(events.some((e) => e.type === "index-done")).toBe(true);
      const progress = events.filter((e) => e.type === "index-progress");
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress).toContainEqual(expect.objectContaining({ name: "big_email_idx", phase: expect.stringMatching(/^waiting for old snapshots/) }));
      expect(progress.some((p) => p.blocksTotal > 0)).toBe(true);
    } finally {
      await holder.end();
    }
  });

  it("an INVALID index left by an earlier killed build is dropped and built again", async () => {
    const url = await copy();
    // A failed concurrent unique build leaves an INVALID index behind, as a killed build does.
    await admin(url, "CREATE UNIQUE INDEX CONCURRENTLY small_code_idx ON small (code)").catch(() => {});
    expect(await invalidIndexes(url)).toEqual([{ name: "small_code_idx" }]);
    const cwd = makeProject({ "db/indexes/small.sql": "CREATE INDEX small_code_idx ON small (code);" });
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).indexes).toEqual([expect.objectContaining({ name: "small_code_idx", state: "invalid" })]);
    const r = await runCli(["indexes", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await invalidIndexes(url)).toEqual([]);
    expect(await admin(url, "SELECT indisunique FROM pg_index WHERE indexrelid = 'small_code_idx'::regclass")).toEqual([{ indisunique: false }]);
  });

  it("a unique index whose build fails on duplicate data: exit 1 naming the file and the duplicate key; the leftover is dropped, nothing else changed", async () => {
    const url = await copy();
    const cwd = makeProject({
      "db/indexes/a.sql": "CREATE INDEX small_id_idx ON small (id);",
      "db/indexes/b.sql": "\nCREATE UNIQUE INDEX small_code_key ON small (code);",
    });
    const r = await runCli(["indexes", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("db/indexes/b.sql:2:1");
    expect(r.stderr).toContain("Key (code)=(a) is duplicated");
    expect(r.stderr).toContain("23505");
    expect(await invalidIndexes(url)).toEqual([]);
    expect(await admin(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'small' ORDER BY 1")).toEqual([{ indexname: "small_id_idx" }, { indexname: "small_pkey" }]);
  });

  it("four processes at once: each index built once, all exit 0", async () => {
    const url = await copy();
    const cwd = makeProject(bigIndexes);
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(["run", "--url", url], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await builds(url)).toEqual([
      { index_name: "big_active_idx", n: 1 },
      { index_name: "big_email_idx", n: 1 },
      { index_name: "small_code_idx", n: 1 },
    ]);
    expect(await invalidIndexes(url)).toEqual([]);
  });

  it("a build running in another session: status says building; pgkeel waits for it and does not build again", async () => {
    const url = await copy();
    const pg = await import("pg");
    const connect = async () => {
      const c = new pg.default.Client({ connectionString: url });
      await c.connect();
      return c;
    };
    // An open writer transaction keeps the other session's build in "waiting for writers
    // before build" (building, not valid) until this test lets it go: no timing involved.
    const writer = await connect();
    await writer.query("BEGIN");
    await writer.query("LOCK TABLE big IN ROW EXCLUSIVE MODE");
    const other = await connect();
    const running = other.query("CREATE INDEX CONCURRENTLY big_email_idx ON big (email)");
    const inProgress = async () =>
      (await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_progress_create_index p JOIN pg_class i ON i.oid = p.index_relid WHERE i.relname = 'big_email_idx'"))[0]!.n;
    while ((await inProgress()) === 0) await new Promise((r) => setTimeout(r, 20));
    const cwd = makeProject({ "db/indexes/big.sql": "CREATE INDEX big_email_idx ON big (email);" });
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).indexes[0].state).toBe("building");
    // Released once pgkeel says it waits for the build, so it must have seen it running.
    let released: Promise<unknown> | undefined;
    const release = () => (released ??= writer.query("COMMIT"));
    const r = await runCli(["indexes", "--url", url], {
      cwd,
      onStderr: (text) => {
        if (text.includes("waiting: index big_email_idx")) void release();
      },
    }).finally(release);
    await running;
    await other.end();
    await writer.end();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("waiting: index big_email_idx is being worked on by a build running in another session");
    expect(await builds(url)).toEqual([]);
    expect(await invalidIndexes(url)).toEqual([]);
  });

  it("a changed definition: status and plan say changed; --rebuild-changed builds the new one beside it and swaps", async () => {
    const url = await copy();
    const cwd = makeProject({ "db/indexes/small.sql": "CREATE INDEX small_code_idx ON small (code);" });
    expect((await runCli(["indexes", "--url", url], { cwd })).code).toBe(0);
    writeFileSync(join(cwd, "db/indexes/small.sql"), "CREATE INDEX small_code_idx ON small (code, id);");
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).indexes[0].state).toBe("changed");
    const plan = await runCli(["plan", "--url", url], { cwd });
    expect(plan.stdout).toContain("--rebuild-changed");
    const left = await runCli(["indexes", "--url", url], { cwd });
    expect(left.code).toBe(0);
    expect(left.stderr).toContain("exists with another definition");
    const r = await runCli(["indexes", "--rebuild-changed", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'small_code%'")).toEqual([
      { indexdef: "CREATE INDEX small_code_idx ON public.small USING btree (code, id)" },
    ]);
    const after = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(after.stdout).indexes[0].state).toBe("valid");
  });

  it("the session's statement_timeout does not cut a build short", async () => {
    const url = await copy();
    await admin(url, `ALTER DATABASE ${new URL(url).pathname.slice(1)} SET statement_timeout = '300ms'`);
    const cwd = makeProject({ "db/indexes/big.sql": "CREATE INDEX big_email_idx ON big (email);" });
    const r = await runCli(["indexes", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await invalidIndexes(url)).toEqual([]);
  });

  it("through a transaction-mode pooler with a session statement_timeout: refused with exit 2, naming the fix, nothing built", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const url = await copy();
    const db = new URL(url).pathname.slice(1);
    await admin(url, `ALTER DATABASE ${db} SET statement_timeout = '300ms'`);
    const cwd = makeProject({ "db/indexes/big.sql": "CREATE INDEX big_email_idx ON big (email);" });
    const r = await runCli(["indexes", "--url", withDatabase(bouncerUrl(), db)], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("transaction-mode pooler");
    expect(r.stderr).toContain("direct or session-mode URL");
    expect(await admin(url, "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'big_email_idx'")).toEqual([{ n: 0 }]);
  });

  it("through a transaction-mode pooler with the default statement_timeout: builds", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const url = await copy();
    const db = new URL(url).pathname.slice(1);
    const cwd = makeProject({ "db/indexes/small.sql": "CREATE INDEX small_code_idx ON small (code);" });
    const r = await runCli(["indexes", "--url", withDatabase(bouncerUrl(), db)], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await invalidIndexes(url)).toEqual([]);
  });
});

describe("definitions PostgreSQL stores differently are not 'changed'", () => {
  it("IN lists, NOT IN, casts, expressions, ordering, INCLUDE and schema-qualified names read as valid", async () => {
    const url = await copy();
    await admin(url, "CREATE TYPE lvl AS ENUM ('lo', 'hi'); ALTER TABLE small ADD COLUMN l lvl, ADD COLUMN v varchar(20)");
    const cwd = makeProject({
      "db/indexes/small.sql": [
        "CREATE INDEX s_in ON small (id) WHERE code IN ('a', 'b');",
        "CREATE INDEX s_notin ON small (id) WHERE l NOT IN ('lo');",
        "CREATE INDEX s_notin2 ON small (id) WHERE l NOT IN ('lo', 'hi') AND code IN ('z');",
        "CREATE INDEX s_expr ON small (lower(v), (id + 1) DESC NULLS LAST) INCLUDE (code);",
        "CREATE UNIQUE INDEX s_qual ON public.small USING btree (id) WHERE v = 'x' AND l = 'hi';",
      ].join("\n"),
    });
    expect((await runCli(["indexes", "--url", url], { cwd })).code).toBe(0);
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(s.stdout).indexes.map((i: { name: string; state: string }) => `${i.name}:${i.state}`)).toEqual(["s_in:valid", "s_notin:valid", "s_notin2:valid", "s_expr:valid", "s_qual:valid"]);
  });
});

describe("bad index files: exit 1 with file and line, nothing run", () => {
  const cases: [string, string, RegExp][] = [
    ["no name", "CREATE INDEX ON small (code);", /x\.sql:1:1: the index needs an explicit name/],
    ["not an index statement", "CREATE INDEX a_idx ON small (code);\nDROP TABLE small;", /x\.sql:2:1: an index file holds only CREATE \[UNIQUE\] INDEX statements; this is Drop/],
    ["syntax error", "CREATE INDEX a_idx ON small (code;", /x\.sql:1:34: syntax error/],
    ["an index declared twice", "CREATE INDEX a_idx ON small (code);\nCREATE INDEX a_idx ON small (id);", /x\.sql:2:1: index "a_idx" is declared twice/],
    ["a directive indexes do not take", "-- pgkeel:no-transaction\nCREATE INDEX a_idx ON small (code);", /x\.sql:1:1: unknown directive "pgkeel:no-transaction"/],
  ];
  it.each(cases)("%s", async (_label, sql, message) => {
    const url = await copy();
    const cwd = makeProject({ "db/migrations/001.sql": "CREATE TABLE should_not_exist (id int);", "db/indexes/x.sql": sql });
    const r = await runCli(["run", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(await admin(url, "SELECT to_regclass('should_not_exist') IS NULL AS untouched, to_regclass('pgkeel.migrations') IS NULL AS no_state")).toEqual([{ untouched: true, no_state: true }]);
  });
});
