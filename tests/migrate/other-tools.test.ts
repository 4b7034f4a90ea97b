import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * Files written for dbmate or goose hold an up and a down section in one file;
 * those tools run only the up part. pgkeel runs a whole file, so a copied file
 * would apply its down section right after its up section. Files in those tools'
 * shapes: tests/fixtures/other-tools/README.md.
 */
const fixtures = resolve(import.meta.dirname, "../fixtures/other-tools");
const files = (tool: string, only?: string) =>
  Object.fromEntries(
    readdirSync(join(fixtures, tool))
      .filter((f) => !only || f.startsWith(only))
      .map((f) => [`db/migrations/${f}`, readFileSync(join(fixtures, tool, f), "utf8")]),
  );

async function objects(url: string): Promise<string> {
  const rows = await admin<{ n: string }>(url, "SELECT string_agg(nspname, ',' ORDER BY nspname) AS n FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'");
  return rows[0]!.n;
}

describe("a file with another tool's down section is refused, naming the marker", () => {
  it("dbmate: the whole folder is refused at the first file's -- migrate:down, nothing applied", async () => {
    const url = await freshDatabase("other_tools");
    const before = await objects(url);
    const cwd = makeProject(files("dbmate"));
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/db\/migrations\/20240101000000_create_shop_schema\.sql:4:1: .*-- migrate:down/);
    expect(r.stderr).toMatch(/dbmate/);
    expect(await objects(url)).toBe(before);
  });

  it("dbmate: a marker inside a statement is named, not reported as a syntax error", async () => {
    const cwd = makeProject(files("dbmate", "20240101000100"));
    const r = await runCli(["lint"], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/20240101000100_create_regions_table\.sql:12:5: .*-- migrate:down/);
    expect(r.stderr).not.toMatch(/syntax error/);
  });

  it("goose: refused at -- +goose Down", async () => {
    const url = await freshDatabase("other_tools");
    const cwd = makeProject(files("goose"));
    const r = await runCli(["status", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/20240102000000_add_password_column\.sql:7:1: .*-- \+goose Down/);
  });
});

describe("Prisma's folder layout", () => {
  const prisma = () => {
    const root = join(fixtures, "prisma/migrations");
    const out: Record<string, string> = { "prisma/migrations/migration_lock.toml": readFileSync(join(root, "migration_lock.toml"), "utf8") };
    for (const d of readdirSync(root).filter((f) => !f.endsWith(".toml"))) out[`prisma/migrations/${d}/migration.sql`] = readFileSync(join(root, d, "migration.sql"), "utf8");
    return out;
  };

  it("a migrations folder of <name>/migration.sql is refused (exit 2) with how to copy them, not read as nothing to do", async () => {
    const url = await freshDatabase("other_tools");
    const cwd = makeProject(prisma());
    for (const command of [["status", "--url", url], ["migrate", "--url", url], ["lint"]]) {
      const r = await runCli([...command, "--migrations-dir", "prisma/migrations"], { cwd });
      expect(r.code, `${command[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/prisma\/migrations\/20240103000000_add_headers\/migration\.sql/);
      expect(r.stderr).toMatch(/db\/migrations\/20240103000000_add_headers\.sql|<name>\.sql/);
    }
    expect(await admin(url, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgkeel'")).toEqual([{ n: 0 }]);
  });
});

describe("golang-migrate's .down.sql files", () => {
  it("are refused (exit 1) naming the file, instead of running before their .up.sql; nothing applied", async () => {
    const url = await freshDatabase("other_tools");
    const before = await objects(url);
    const cwd = makeProject({
      ...files("golang-migrate"),
      "db/migrations/000001_create_teams.up.sql": "CREATE TABLE IF NOT EXISTS teams (id varchar(26) PRIMARY KEY, name varchar(64));",
    });
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/db\/migrations\/000001_create_teams\.down\.sql: .*down migration/);
    expect(r.stderr).not.toMatch(/relation "teams" does not exist/);
    expect(await objects(url)).toBe(before);
  });
});
