import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/** Expand, backfill, contract in one deploy: the contract migration waits for its backfill. */
const project = (contract = "-- pgkeel:after-backfill 20261127130000_fill_norm\nALTER TABLE leads ALTER COLUMN name_norm SET NOT NULL;\n") =>
  makeProject({
    "db/migrations/001_leads.sql": "CREATE TABLE leads (id bigint PRIMARY KEY, name text NOT NULL);\nINSERT INTO leads SELECT g, 'Name ' || g FROM generate_series(1, 3000) g;",
    "db/migrations/002_add_norm.sql": "ALTER TABLE leads ADD COLUMN name_norm text;",
    "db/migrations/003_norm_not_null.sql": contract,
    "db/migrations/004_later.sql": "CREATE TABLE later (id int);",
    "db/backfills/20261127130000_fill_norm.sql":
      "-- pgkeel:backfill table=leads key=id batch=1000\nUPDATE leads SET name_norm = lower(name) WHERE id BETWEEN :from AND :to;\n",
  });

const events = (stdout: string) => stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; name?: string; backfill?: string });

describe("-- pgkeel:after-backfill", () => {
  it("one run: ADD COLUMN, the backfill filling it, then SET NOT NULL right after the backfill is done", async () => {
    const url = await freshDatabase("ab_run");
    const cwd = project();
    const plan = await runCli(["plan", "--url", url], { cwd });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain("waits for backfill 20261127130000_fill_norm");

    const r = await runCli(["run", "--json", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const seq = events(r.stdout)
      .filter((e) => ["migration-applied", "held", "backfill-done"].includes(e.type))
      .map((e) => `${e.type} ${e.name}`);
    // Held ones are announced when the migrate phase starts.
    expect(seq).toEqual([
      "held 003_norm_not_null",
      "held 004_later",
      "migration-applied 001_leads",
      "migration-applied 002_add_norm",
      "backfill-done 20261127130000_fill_norm",
      "migration-applied 003_norm_not_null",
      "migration-applied 004_later",
    ]);
    expect(await admin(url, "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'leads' AND column_name = 'name_norm'")).toEqual([{ is_nullable: "NO" }]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM leads WHERE name_norm IS NULL")).toEqual([{ n: 0 }]);
    expect(events(r.stdout).at(-1)).toMatchObject({ type: "result", migrate: { applied: ["001_leads", "002_add_norm", "003_norm_not_null", "004_later"], held: [] } });
  });

  it("migrate alone holds the contract migration and every later one; status shows it waiting on the backfill", async () => {
    const url = await freshDatabase("ab_migrate");
    const cwd = project();
    const m = await runCli(["migrate", "--url", url], { cwd });
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain("003_norm_not_null waits for backfill 20261127130000_fill_norm");
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "001_leads" }, { name: "002_add_norm" }]);
    const s = await runCli(["status", "--json", "--url", url], { cwd });
    const migrations = JSON.parse(s.stdout).migrations as { name: string; state: string; waitingOn?: string }[];
    expect(migrations.slice(2)).toEqual([
      expect.objectContaining({ name: "003_norm_not_null", state: "pending", waitingOn: "20261127130000_fill_norm" }),
      expect.objectContaining({ name: "004_later", state: "pending", waitingOn: "20261127130000_fill_norm" }),
    ]);
    const text = await runCli(["status", "--url", url], { cwd });
    expect(text.stdout).toMatch(/pending\s+003_norm_not_null\s+\(waiting on backfill 20261127130000_fill_norm\)/);
    // Once the backfill is done, migrate applies it.
    expect((await runCli(["backfill", "--url", url], { cwd })).code).toBe(0);
    const again = await runCli(["migrate", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 4 }]);
  });

  it("a directive naming a backfill that does not exist is bad input: exit 1 at its line and column, nothing applied", async () => {
    const url = await freshDatabase("ab_bad");
    const cwd = project("-- a contract step\n-- pgkeel:after-backfill fill_norm\nALTER TABLE leads ALTER COLUMN name_norm SET NOT NULL;\n");
    for (const cmd of ["migrate", "run"]) {
      const r = await runCli([cmd, "--url", url], { cwd });
      expect(r.code, cmd).toBe(1);
      expect(r.stderr).toContain('db/migrations/003_norm_not_null.sql:2:1: pgkeel:after-backfill names backfill "fill_norm", which does not exist (known backfills: 20261127130000_fill_norm)');
    }
    expect(await admin(url, "SELECT to_regclass('leads') AS t")).toEqual([{ t: null }]);
  });
});
