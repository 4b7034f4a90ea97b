import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/** Bad input gets a clear error, the right exit status, and changes nothing (SPEC guarantee 8). */
async function snapshot(url: string): Promise<string> {
  const rows = await admin<{ r: string }>(
    url,
    `SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
  );
  const tracked = await admin<{ t: string }>(url, "SELECT string_agg(name || '=' || checksum, ',' ORDER BY name) AS t FROM pgkeel.migrations").catch(() => [{ t: "no state" }]);
  return JSON.stringify([rows, tracked]);
}

const good = { "db/migrations/001_a.sql": "CREATE TABLE a (id int);" };

describe("refused before anything runs (exit 1 or 2), nothing changed", () => {
  const cases: [string, Record<string, string>, string[], number, RegExp][] = [
    ["unparsable SQL", { "db/migrations/002_b.sql": "CREATE TABLE b (id int);\nCREATE TABLE c (id int,, x int);" }, [], 1, /db\/migrations\/002_b\.sql:2:24: syntax error/],
    ["unknown directive", { "db/migrations/002_b.sql": "-- pgkeel:no-transactoin\nCREATE TABLE b (id int);" }, [], 1, /002_b\.sql:1:1: unknown directive "pgkeel:no-transactoin"/],
    ["bad directive value", { "db/migrations/002_b.sql": "-- pgkeel:lock-timeout soon\nCREATE TABLE b (id int);" }, [], 1, /002_b\.sql:1:1: pgkeel:lock-timeout needs a duration/],
    ["transaction control", { "db/migrations/002_b.sql": "CREATE TABLE b (id int);\n  COMMIT;" }, [], 1, /002_b\.sql:2:3: transaction control/],
    ["two files with one name", { "db/migrations/002_b.sql": "SELECT 1;", "db/migrations/002_b.mjs": "export async function up() {}" }, [], 1, /two files share the name "002_b"/],
    ["code migration without up", { "db/migrations/002_b.mjs": "export const nothing = 1;" }, [], 1, /002_b\.mjs: a code migration must export async function up/],
    ["missing directory named by a flag", {}, ["--migrations-dir", "db/nope"], 2, /db\/nope: directory not found/],
    ["unknown config key", { "pgkeel.config.json": JSON.stringify({ migrationDir: "x" }) }, [], 2, /pgkeel\.config\.json: unknown config key "migrationDir"/],
    ["config key of the wrong type", { "pgkeel.config.json": JSON.stringify({ maxRetries: "ten" }) }, [], 2, /pgkeel\.config\.json: maxRetries must be a non-negative number/],
    ["config that does not parse", { "pgkeel.config.json": "{ url: " }, [], 2, /pgkeel\.config\.json: cannot load config/],
    ["missing directory named in the config", { "pgkeel.config.json": JSON.stringify({ migrationsDir: "db/elsewhere" }) }, [], 2, /db\/elsewhere: directory not found/],
  ];
  it.each(cases)("%s", async (_label, extra, args, code, message) => {
    const url = await freshDatabase("bad_input");
    const cwd = makeProject(good);
    const first = await runCli(["migrate", "--url", url], { cwd });
    expect(first.code, first.stderr).toBe(0);
    const before = await snapshot(url);
    for (const [path, text] of Object.entries(extra)) writeFileSync(join(cwd, path), text);
    // A good new migration that sorts first must not be applied either.
    writeFileSync(join(cwd, "db/migrations/002_a_good.sql"), "CREATE TABLE should_not_exist (id int);");
    const r = await runCli(["migrate", "--url", url, ...args], { cwd });
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("pgkeel: ") && !l.startsWith("pgkeel: target")).length).toBe(1);
    expect(await snapshot(url)).toBe(before);
  });
});

describe("drift (exit 4)", () => {
  async function applied(files: Record<string, string>) {
    const url = await freshDatabase("drift");
    const cwd = makeProject(files);
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    return { url, cwd };
  }
  const base = {
    "db/migrations/001_a.sql": "-- first\nCREATE TABLE a (id int);",
    "db/migrations/003_c.sql": "CREATE TABLE c (id int);",
  };

  it("comments and whitespace alone are not drift", async () => {
    const { url, cwd } = await applied(base);
    writeFileSync(join(cwd, "db/migrations/001_a.sql"), "-- a different comment\n\nCREATE   TABLE a\n  (id int) ;\n");
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(status.stdout).migrations.map((m: { state: string }) => m.state)).toEqual(["applied", "applied"]);
  });

  it("a changed migration: status says changed, migrate refuses with 4, --allow-changed goes on", async () => {
    const { url, cwd } = await applied(base);
    writeFileSync(join(cwd, "db/migrations/001_a.sql"), "CREATE TABLE a (id bigint);");
    writeFileSync(join(cwd, "db/migrations/004_d.sql"), "CREATE TABLE d (id int);");
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).migrations).toMatchObject([
      { name: "001_a", state: "changed" },
      { name: "003_c", state: "applied" },
      { name: "004_d", state: "pending" },
    ]);
    const refused = await runCli(["migrate", "--url", url], { cwd });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("changed after they were applied: db/migrations/001_a.sql");
    expect(await admin(url, "SELECT to_regclass('d') IS NULL AS absent")).toEqual([{ absent: true }]);
    const allowed = await runCli(["migrate", "--allow-changed", "--url", url], { cwd });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await admin(url, "SELECT to_regclass('d') IS NOT NULL AS present")).toEqual([{ present: true }]);
  });

  it("a missing migration: status says missing, migrate refuses with 4, --allow-missing goes on", async () => {
    const { url, cwd } = await applied(base);
    rmSync(join(cwd, "db/migrations/001_a.sql"));
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(status.stdout).migrations).toContainEqual(expect.objectContaining({ name: "001_a", state: "missing" }));
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(4);
    expect((await runCli(["migrate", "--allow-missing", "--url", url], { cwd })).code).toBe(0);
  });

  it("a new migration sorting before the last applied: refused with 4, --allow-out-of-order applies it", async () => {
    const { url, cwd } = await applied(base);
    writeFileSync(join(cwd, "db/migrations/002_b.sql"), "CREATE TABLE b (id int);");
    const refused = await runCli(["migrate", "--url", url], { cwd });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("sorting before the last applied migration: db/migrations/002_b.sql");
    expect(await admin(url, "SELECT to_regclass('b') IS NULL AS absent")).toEqual([{ absent: true }]);
    const allowed = await runCli(["migrate", "--allow-out-of-order", "--url", url], { cwd });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await admin(url, "SELECT to_regclass('b') IS NOT NULL AS present")).toEqual([{ present: true }]);
  });
});

describe("a default directory that does not exist", () => {
  it("means nothing to do (exit 0)", async () => {
    const url = await freshDatabase("nodir");
    const r = await runCli(["migrate", "--url", url], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("migrate: nothing to do");
  });
});
