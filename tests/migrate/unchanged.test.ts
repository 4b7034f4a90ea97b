import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { recordLoads } from "../support/loads.js";
import { makeProject, runCli } from "../support/project.js";
import { freePort } from "../support/servers.js";

/**
 * An applied file whose bytes are the ones recorded when it was applied is not
 * parsed again (the no-op deploy's speed), while drift detection stays exactly
 * as it was: an edit to comments or spacing is parsed and found not to be drift,
 * a changed statement is drift. What the process loads is the observable: the
 * parser (libpg-query) is loaded only when some file needs parsing.
 */
const files = {
  "db/migrations/001_a.sql": "-- first\nCREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b int;\n",
  "db/migrations/002_b.sql": "CREATE TABLE b (id int);\n",
};

async function applied() {
  const url = await freshDatabase("unchanged");
  const cwd = makeProject(files);
  const first = await runCli(["migrate", "--url", url], { cwd });
  expect(first.code, first.stderr).toBe(0);
  return { url, cwd };
}

const states = async (url: string, cwd: string) => {
  const r = await runCli(["status", "--json", "--url", url], { cwd });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).migrations.map((m: { name: string; state: string }) => `${m.name}:${m.state}`);
};

describe("applied, unchanged files are not parsed", () => {
  it("a no-op migrate and status never load the parser", async () => {
    const { url, cwd } = await applied();
    const rec = recordLoads();
    const again = await runCli(["migrate", "--url", url], { cwd, env: rec.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("nothing to do");
    const status = await runCli(["status", "--json", "--url", url], { cwd, env: rec.env });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).migrations.map((m: { state: string }) => m.state)).toEqual(["applied", "applied"]);
    // The hook saw the run (it records the driver), and no parser.
    expect(rec.loaded()).toContain("pg");
    expect(rec.loaded()).not.toContain("libpg-query");
  });

  it("a file edited in comments and spacing only is parsed, compared and still applied: not drift", async () => {
    const { url, cwd } = await applied();
    writeFileSync(join(cwd, "db/migrations/001_a.sql"), "-- another comment\nCREATE   TABLE a (id int) ;\n\n/* why */ ALTER TABLE a ADD COLUMN b int;\n");
    const rec = recordLoads();
    const again = await runCli(["migrate", "--url", url], { cwd, env: rec.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("nothing to do");
    expect(rec.loaded()).toContain("libpg-query");
    expect(await states(url, cwd)).toEqual(["001_a:applied", "002_b:applied"]);
  });

  it("a changed statement is still drift: status says changed, migrate refuses with 4 and applies nothing", async () => {
    const { url, cwd } = await applied();
    writeFileSync(join(cwd, "db/migrations/001_a.sql"), "-- first\nCREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b bigint;\n");
    writeFileSync(join(cwd, "db/migrations/003_c.sql"), "CREATE TABLE c (id int);\n");
    expect(await states(url, cwd)).toEqual(["001_a:changed", "002_b:applied", "003_c:pending"]);
    const refused = await runCli(["migrate", "--url", url], { cwd });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("changed after they were applied: db/migrations/001_a.sql");
    expect(await admin(url, "SELECT to_regclass('c') IS NULL AS absent")).toEqual([{ absent: true }]);
  });

  it("a recorded checksum changed by other means (SQL by hand, an older pgkeel's repair) makes the unchanged file parsed and compared again", async () => {
    const { url, cwd } = await applied();
    await admin(url, "UPDATE pgkeel.migrations SET checksum = 'edited by hand' WHERE name = '002_b'");
    const rec = recordLoads();
    expect(await runCli(["status", "--json", "--url", url], { cwd, env: rec.env }).then((r) => JSON.parse(r.stdout).migrations.map((m: { state: string }) => m.state))).toEqual(["applied", "changed"]);
    expect(rec.loaded()).toContain("libpg-query");
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(4);
  });

  it("rows written before pgkeel kept file hashes: those files are parsed, and drift is found as before", async () => {
    const { url, cwd } = await applied();
    await admin(url, "UPDATE pgkeel.migrations SET file_hash = NULL");
    writeFileSync(join(cwd, "db/migrations/002_b.sql"), "CREATE TABLE b (id bigint);\n");
    expect(await states(url, cwd)).toEqual(["001_a:applied", "002_b:changed"]);
  });

  it("the tracking rows are read before the files, yet a fault in a file still outranks a server nothing listens on", async () => {
    const cwd = makeProject({ ...files, "db/migrations/003_bad.sql": "CREATE TABLE c (id int,, x int);\n" });
    const url = `postgres://pgkeel@127.0.0.1:${await freePort()}/nowhere`;
    const r = await runCli(["migrate", "--url", url, "--max-retries", "2", "--retry-cap", "50"], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/db\/migrations\/003_bad\.sql:1:24: syntax error/);
  });

  it("without a URL, a bad file is refused before the embedded database is opened: its folder is not even made", async () => {
    const cwd = makeProject({ "db/migrations/001_bad.sql": "CREATE TABLE c (id int,, x int);\n" });
    const r = await runCli(["migrate"], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("db/migrations/001_bad.sql:1:24");
    expect(existsSync(join(cwd, ".pgkeel"))).toBe(false);
  });
});
