import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * Files written for dbmate or goose hold an up and a down section in one file;
 * those tools run only the up part. pgkeel runs a whole file, so a copied file
 * would apply its down section right after its up section. Real files from real
 * projects: tests/fixtures/other-tools/README.md.
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
    expect(r.stderr).toMatch(/db\/migrations\/20211026204222_create_upchieve_schema\.sql:4:1: .*-- migrate:down/);
    expect(r.stderr).toMatch(/dbmate/);
    expect(await objects(url)).toBe(before);
  });

  it("dbmate: a marker inside a statement is named, not reported as a syntax error", async () => {
    const cwd = makeProject(files("dbmate", "20211026205335"));
    const r = await runCli(["lint"], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/20211026205335_create_cities_table\.sql:12:5: .*-- migrate:down/);
    expect(r.stderr).not.toMatch(/syntax error/);
  });

  it("goose: refused at -- +goose Down", async () => {
    const url = await freshDatabase("other_tools");
    const cwd = makeProject(files("goose"));
    const r = await runCli(["status", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/20170519113745_add_password_column\.sql:7:1: .*-- \+goose Down/);
  });
});
