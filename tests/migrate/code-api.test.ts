import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * The objects a user's code receives answer a method they do not have with the
 * list of those they do, at the line that asked, and nothing is applied.
 */
describe("a method that does not exist", () => {
  it.each([".ts", ".mjs"])("db.query in a code migration (%s): exit 1 at the calling line, listing db's methods; nothing applied", async (ext) => {
    const url = await freshDatabase("code_api");
    const cwd = makeProject({
      // An ES module project: there tsx maps .ts lines back (in a CommonJS one the message names the file only).
      "package.json": JSON.stringify({ type: "module" }),
      [`db/migrations/001_a${ext}`]: [
        ext === ".ts" ? 'import type { MigrationDb } from "pgkeel";' : "// plain JavaScript",
        `export async function up(db${ext === ".ts" ? ": MigrationDb & Record<string, any>" : ""}) {`,
        '  await db.sql("CREATE TABLE a (id int)");',
        '  await db.query("SELECT 1");',
        "}",
      ].join("\n"),
    });
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      `pgkeel: db/migrations/001_a${ext}:4:12: db.query does not exist; db offers sql(text, params?), tableExists(table), columnExists(table, column), indexExists(name), constraintExists(table, name)`,
    );
    expect(await admin(url, "SELECT to_regclass('a') IS NULL AS no_a, (SELECT count(*)::int FROM pgkeel.migrations) AS applied")).toEqual([{ no_a: true, applied: 0 }]);
  });

  it("awaiting or returning db still works (no `then` on it)", async () => {
    const url = await freshDatabase("code_api");
    const cwd = makeProject({ "db/migrations/001_a.mjs": 'export async function up(db) {\n  const same = await db;\n  await same.sql("CREATE TABLE a (id int)");\n  return db;\n}' });
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
  });

  it("tx.query in a code backfill: exit 1 listing tx's methods; no batch recorded", async () => {
    const url = await freshDatabase("code_api");
    await admin(url, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g FROM generate_series(1, 10) g");
    const cwd = makeProject({
      "db/backfills/001_fill.mjs": 'export default {\n  table: "t", key: "id", batch: 5,\n  async run(tx, range) {\n    await tx.query("UPDATE t SET v = $1", [range.from]);\n  },\n};',
    });
    const r = await runCli(["backfill", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("pgkeel: db/backfills/001_fill.mjs:4:14: tx.query does not exist; tx offers sql(text, params?)");
    expect(await admin(url, "SELECT count(v)::int AS n FROM t")).toEqual([{ n: 0 }]);
    expect(await admin(url, "SELECT coalesce(sum(batches), 0)::int AS n FROM pgkeel.backfills")).toEqual([{ n: 0 }]);
  });
});
