import { describe, expect, it } from "vitest";
import { LoginError } from "../../src/errors.js";
import { admin, bouncerSkip, freshDatabase, statementBouncerUrl, withDatabase } from "../support/db.js";
import { testGateway } from "../support/gateway.js";
import { bumpBackfill, countersCheck, countersTable } from "../support/counters.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * Through a real PgBouncer with pool_mode = statement: what pgkeel refuses
 * (a transaction across round trips) before anything changes, and what runs.
 */
async function viaStatementBouncer(prefix: string): Promise<{ direct: string; pooled: string }> {
  const direct = await freshDatabase(prefix);
  return { direct, pooled: withDatabase(statementBouncerUrl(), new URL(direct).pathname.slice(1)) };
}

const codeMigration = `export async function up(db) {
  await db.sql("ALTER TABLE items ADD COLUMN code text");
}
`;
const codeBackfill = `export default {
  table: "items", key: "id", batch: 10,
  async run(tx, range) {
    await tx.sql("UPDATE items SET label = upper(label) WHERE id BETWEEN $1 AND $2", [range.from, range.to]);
  },
};
`;

describe("PgBouncer in statement mode", () => {
  it("doctor says statement, in text and --json, with the server's version", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { pooled } = await viaStatementBouncer("stmt_doctor");
    const text = await runCli(["doctor", "--url", pooled], { cwd: makeProject({}) });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^pooler: +statement \(.*code migrations and code backfills need a transaction-mode or direct URL\)$/m);
    expect(text.stdout).toMatch(/^server version: +\d+\.\d+.* \(supported\)$/m);
    const json = JSON.parse((await runCli(["doctor", "--json", "--url", pooled], { cwd: makeProject({}) })).stdout);
    expect(json).toMatchObject({ pooler: "statement", supported: true, serverVersionNum: expect.any(Number) });
  });

  it("08P01 'transaction blocks not allowed in statement pooling mode' is a settings error: exit 2 at once, never retried, naming the fix", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { pooled } = await viaStatementBouncer("stmt_class");
    const t = testGateway(pooled);
    try {
      const err = await t.gw
        .executeWithRetry({
          name: "two round trips",
          run: async (db) => {
            await db.query("BEGIN");
            return db.rows("SELECT 1");
          },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LoginError);
      expect((err as LoginError).exitCode).toBe(2);
      expect((err as LoginError).sqlstate).toBe("08P01");
      expect((err as Error).message).toMatch(/statement pooling mode.*statement mode.*transaction-mode or direct URL.*--via/);
      expect(t.retries()).toEqual([]);
    } finally {
      await t.gw.close();
    }
  });

  it("migrate and run refuse code migrations and code backfills at once, with one message naming the mode, the files and the fix; nothing changes", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { direct, pooled } = await viaStatementBouncer("stmt_refuse");
    await admin(direct, "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL); INSERT INTO items SELECT g, 'x' FROM generate_series(1, 30) g");
    const cwd = makeProject({
      "db/migrations/001_sql.sql": "CREATE TABLE before_code (id int);",
      "db/migrations/002_code.mjs": codeMigration,
      "db/backfills/001_upper.mjs": codeBackfill,
    });
    for (const command of ["run", "migrate"]) {
      const r = await runCli([command, "--url", pooled], { cwd });
      expect(r.code, r.stderr).toBe(2);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("pgkeel: ") && !l.startsWith("pgkeel: target"));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain("statement mode");
      expect(errors[0]).toContain("db/migrations/002_code.mjs (code migration)");
      expect(errors[0]).toContain("--via");
      if (command === "run") expect(errors[0]).toContain("db/backfills/001_upper.mjs (code backfill)");
      expect(r.stderr).not.toContain("retry");
    }
    const b = await runCli(["backfill", "--url", pooled], { cwd });
    expect(b.code, b.stderr).toBe(2);
    expect(b.stderr).toContain("db/backfills/001_upper.mjs (code backfill)");
    // Not even pgkeel's own tables were created.
    expect(await admin(direct, "SELECT to_regclass('before_code') AS t, to_regnamespace('pgkeel') AS s")).toEqual([{ t: null, s: null }]);
    // The same project through a direct URL runs whole; afterwards the pooled URL has nothing to refuse.
    expect((await runCli(["run", "--url", direct], { cwd })).code).toBe(0);
    const again = await runCli(["run", "--url", pooled], { cwd });
    expect(again.code, again.stderr).toBe(0);
  });

  it("SQL migrations, a no-transaction migration, an index and a SQL backfill run through it", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { direct, pooled } = await viaStatementBouncer("stmt_runs");
    await admin(direct, countersTable(500));
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_b.sql": "-- pgkeel:lock-timeout 3s\nALTER TABLE a ADD COLUMN b int;",
      "db/migrations/003_steps.sql": "-- pgkeel:no-transaction\nINSERT INTO a (id) VALUES (1);\nCREATE INDEX CONCURRENTLY a_b_idx ON a (b);",
      "db/indexes/counters.sql": "CREATE INDEX counters_hits_idx ON counters (hits);",
      "db/backfills/001_bump.sql": bumpBackfill(50),
    });
    const r = await runCli(["run", "--url", pooled], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("retry");
    expect(await admin(direct, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual(["001_a", "002_b", "003_steps"].map((name) => ({ name })));
    expect(await countersCheck(direct)).toEqual({ n: 500, wrong: 0 });
    expect(await admin(direct, "SELECT count(*)::int AS n FROM pg_index WHERE indisvalid AND indexrelid::regclass::text IN ('a_b_idx', 'counters_hits_idx')")).toEqual([{ n: 2 }]);
  });

  it("a failing SQL migration in a batch reports the server's own error, file and line; the ones before it stay applied", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { direct, pooled } = await viaStatementBouncer("stmt_fail");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_bad.sql": "CREATE TABLE b (id int);\nINSERT INTO nowhere VALUES (1);",
    });
    const r = await runCli(["migrate", "--url", pooled], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/002_bad\.sql:2:13: relation "nowhere" does not exist \(SQLSTATE 42P01\)/);
    expect(await admin(direct, "SELECT name FROM pgkeel.migrations")).toEqual([{ name: "001_a" }]);
    expect(await admin(direct, "SELECT to_regclass('b') AS b")).toEqual([{ b: null }]);
  });

  it("a failing SQL backfill batch reports the server's own error; batches before it stay done", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { direct, pooled } = await viaStatementBouncer("stmt_bf_fail");
    await admin(direct, `${countersTable(100)}; UPDATE counters SET hits = -1 WHERE id = 75`);
    const cwd = makeProject({
      "db/backfills/001_div.sql": "-- pgkeel:backfill table=counters key=id batch=10 target=0\nUPDATE counters SET hits = 100 / (hits + 1) WHERE id BETWEEN :from AND :to;\n",
    });
    const r = await runCli(["backfill", "--url", pooled], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/001_div batch 71\.\.80: division by zero \(SQLSTATE 22012\)/);
    expect(await admin(direct, "SELECT (SELECT sum(rows_done)::int FROM pgkeel.backfill_ranges) AS rows, done FROM pgkeel.backfills")).toEqual([{ rows: 70, done: false }]);
  });

  it("two runners at once: both exit 0, each migration applied once", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const { direct, pooled } = await viaStatementBouncer("stmt_two");
    const files: Record<string, string> = { "db/migrations/000_log.sql": "CREATE TABLE log (id serial PRIMARY KEY, what text);" };
    for (let i = 1; i <= 6; i++) files[`db/migrations/00${i}_m.sql`] = `INSERT INTO log (what) VALUES ('${i}'); SELECT pg_sleep(0.05);`;
    const cwd = makeProject(files);
    const runs = await Promise.all([0, 1].map(() => runCli(["migrate", "--url", pooled], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await admin(direct, "SELECT count(*)::int AS n, count(DISTINCT what)::int AS d FROM log")).toEqual([{ n: 6, d: 6 }]);
  });
});
