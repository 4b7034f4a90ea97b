import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/** The config file loads however the project is set up, and a bad one names the exact key. */
describe("pgkeel.config.ts in a CommonJS project (package.json without type: module)", () => {
  const cjs = { "package.json": JSON.stringify({ name: "app", version: "1.0.0" }) };

  it("export default {...} loads", async () => {
    const cwd = makeProject({ ...cjs, "pgkeel.config.ts": 'export default { migrationsDir: "db/schema" };\n' });
    const r = await runCli(["create", "first"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^db\/schema\/\d{14}_first\.sql$/);
  });

  it("code migrations and a code backfill written as ES modules run there too", async () => {
    const url = await freshDatabase("cfg_cjs");
    const cwd = makeProject({
      ...cjs,
      "pgkeel.config.ts": `const config = { url: ${JSON.stringify(url)} };\nexport default config;\n`,
      "db/migrations/001_t.ts": 'import type { MigrationDb } from "pgkeel";\nexport async function up(db: MigrationDb) {\n  await db.sql("CREATE TABLE t (id int PRIMARY KEY, v text)");\n  await db.sql("INSERT INTO t SELECT g, NULL FROM generate_series(1, 50) g");\n}\n',
      "db/backfills/002_fill.ts": 'export default {\n  table: "t",\n  key: "id",\n  batch: 20,\n  async run(tx: { sql(t: string, p?: unknown[]): Promise<unknown[]> }, range: { from: string; to: string }) {\n    await tx.sql("UPDATE t SET v = \'x\' WHERE id BETWEEN $1 AND $2", [range.from, range.to]);\n  },\n};\n',
    });
    const r = await runCli(["run"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT count(*)::int AS n FROM t WHERE v = 'x'")).toEqual([{ n: 50 }]);
  });
});

describe("config errors name the exact key (exit 2)", () => {
  const cases: [string, unknown, RegExp][] = [
    ["a URL that is not a string", { urls: { direct: "postgres://a@d/db", prod: 5 } }, /pgkeel\.config\.json: urls\.prod must be a string \(a postgres:\/\/ URL\), got a number/],
    ["urls that are not an object", { urls: "postgres://a@d/db" }, /pgkeel\.config\.json: urls must be an object of name: URL \(\{ "direct": "postgres:\/\/\.\.\." \}\), got a string/],
    ["a number that is a string", { maxRetries: "10" }, /pgkeel\.config\.json: maxRetries must be a non-negative number, got a string/],
    ["an idle timeout that is not a duration", { idleInTransactionTimeout: "a minute" }, /pgkeel\.config\.json: idleInTransactionTimeout must be a duration such as "60s", "500ms" or "0" \(off\), got a string/],
    ["an unknown key", { migrationDir: "x" }, /pgkeel\.config\.json: unknown config key "migrationDir" \(known: url, urls, /],
    ["not an object", ["x"], /pgkeel\.config\.json: the config must be an object/],
  ];
  it.each(cases)("%s", async (_label, config, message) => {
    const r = await runCli(["create", "x"], { cwd: makeProject({ "pgkeel.config.json": JSON.stringify(config) }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
