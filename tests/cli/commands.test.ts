import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };

describe("CLI", () => {
  it("--version and --help for every command", async () => {
    const cwd = makeProject({});
    const v = await runCli(["--version"], { cwd });
    expect(v).toMatchObject({ code: 0 });
    expect(v.stdout.trim()).toBe(pkg.version);
    for (const cmd of ["migrate", "run", "status", "plan", "create", "doctor"]) {
      const h = await runCli([cmd, "--help"], { cwd });
      expect(h.code, cmd).toBe(0);
      expect(h.stdout).toContain(`Usage: pgkeel ${cmd}`);
    }
  });

  it("an unknown command or flag is a usage error (exit 2)", async () => {
    const cwd = makeProject({});
    expect((await runCli(["migrat"], { cwd })).code).toBe(2);
    expect((await runCli(["migrate", "--no-such-flag"], { cwd })).code).toBe(2);
    expect((await runCli(["migrate", "--max-retries", "zero"], { cwd })).code).toBe(2);
  });

  it("create writes a timestamped migration, or an index or backfill file", async () => {
    const cwd = makeProject({});
    const r = await runCli(["create", "Add Leads Source!"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^db\/migrations\/\d{14}_add_leads_source\.sql$/);
    expect(existsSync(join(cwd, r.stdout.trim()))).toBe(true);
    expect((await runCli(["create", "leads_email", "--index"], { cwd })).stdout.trim()).toBe("db/indexes/leads_email.sql");
    expect((await runCli(["create", "fill names", "--backfill"], { cwd })).stdout.trim()).toMatch(/^db\/backfills\/\d{14}_fill_names\.sql$/);
    expect(readdirSync(join(cwd, "db/migrations"))).toHaveLength(1);
  });

  it("a server that is not running: each retry says so; exit 3 says how many attempts over how long and how to change that", async () => {
    const r = await runCli(["migrate", "--url", "postgres://x@127.0.0.1:1/db", "--max-retries", "2", "--retry-cap", "20"], { cwd: makeProject({ "db/migrations/001.sql": "SELECT 1;" }) });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/retry .*attempt 1 failed \(connection: cannot reach 127\.0\.0\.1:1: is the server running\? \(ECONNREFUSED\)\); next attempt in \d+ ms/);
    expect(r.stderr).toMatch(/gave up after 2 attempts over \d+\.\d s; last cause: cannot reach 127\.0\.0\.1:1: is the server running\?/);
    expect(r.stderr).toMatch(/raise --max-retries .* or --retry-cap/);
  });

  it("plan lists each pending statement with the locks it takes on which tables; tables new in the run raise no finding", async () => {
    const url = await freshDatabase("cli_plan");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int, v text);\nCREATE INDEX a_v ON a (v);\nUPDATE a SET v = lower(v);\nALTER TABLE a ALTER COLUMN v TYPE varchar(10);",
      "db/migrations/002_b.sql": "CREATE INDEX CONCURRENTLY a_id ON a (id);",
    });
    const r = await runCli(["plan", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("line 1: CreateStmt, lock ACCESS EXCLUSIVE on a (new)\n");
    // Table a is created by this run: it blocks nobody, so none of these is a finding.
    expect(r.stdout).toContain("line 2: IndexStmt, lock SHARE on a (new)\n");
    expect(r.stdout).toContain("line 3: UpdateStmt, lock ROW EXCLUSIVE on a (new)\n");
    expect(r.stdout).toContain("line 4: AlterTableStmt, lock ACCESS EXCLUSIVE on a (new)\n");
    expect(r.stdout).toContain("002_b.sql  (no transaction: statement by statement)");
    expect(r.stdout).toContain("line 1: IndexStmt, lock SHARE UPDATE EXCLUSIVE on a (new)");
    expect(r.stdout).not.toMatch(/error|warning/);
    const status = await runCli(["status", "--json", "--url", url], { cwd });
    expect(JSON.parse(status.stdout).migrations.map((m: { state: string }) => m.state)).toEqual(["pending", "pending"]);
  });

  it("--json prints one JSON event per line on stdout, and status --json exactly one object", async () => {
    const url = await freshDatabase("cli_json");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int);", "db/migrations/002_b.sql": "CREATE TABLE b (id int);" });
    const r = await runCli(["migrate", "--json", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: "target" });
    expect(events.filter((e) => e.type === "migration-applied").map((e) => e.name)).toEqual(["001_a", "002_b"]);
    expect(events.at(-1)).toMatchObject({ type: "result", applied: ["001_a", "002_b"] });
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    expect(s.stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(s.stdout)).toEqual({
      migrations: [expect.objectContaining({ name: "001_a", state: "applied" }), expect.objectContaining({ name: "002_b", state: "applied" })],
      indexes: [],
      backfills: [],
    });
  });
});
