import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

const applied = async (url: string) => (await admin<{ name: string }>(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).map((r) => r.name);
const three = {
  "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
  "db/migrations/002_b.sql": "CREATE TABLE b (id int);",
  "db/migrations/003_c.sql": "CREATE TABLE c (id int);",
};

describe("baseline", () => {
  it("--to NAME records up to NAME without running them; migrate then runs only the rest; running it again changes nothing", async () => {
    const url = await freshDatabase("bl_to");
    await admin(url, "CREATE TABLE a (id int); CREATE TABLE b (id int);");
    const cwd = makeProject(three);
    const r = await runCli(["baseline", "--to", "002_b", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("recorded 001_a as applied (not run)\nrecorded 002_b as applied (not run)\n");
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations WHERE applied_by LIKE 'baseline by %'")).toEqual([{ n: 2 }]);
    // Had it run them, CREATE TABLE a would fail.
    const m = await runCli(["migrate", "--url", url], { cwd });
    expect(m.code, m.stderr).toBe(0);
    expect(await applied(url)).toEqual(["001_a", "002_b", "003_c"]);
    // Safe on every start: nothing left to record, so 003 applied past 002 is no reason to refuse.
    const again = await runCli(["baseline", "--to", "002_b", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("baseline: 0 recorded, 2 already recorded");
  });

  it("without --to: every file on an untouched database; never again once pgkeel has history (a new file is run, not faked)", async () => {
    const url = await freshDatabase("bl_all");
    await admin(url, "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);");
    const cwd = makeProject(three);
    expect((await runCli(["baseline", "--url", url], { cwd })).code).toBe(0);
    expect(await applied(url)).toEqual(["001_a", "002_b", "003_c"]);
    writeFileSync(join(cwd, "db/migrations/004_d.sql"), "CREATE TABLE d (id int);");
    const again = await runCli(["baseline", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("pgkeel already has applied migrations here, so nothing was recorded");
    const m = await runCli(["migrate", "--url", url], { cwd });
    expect(m.stderr).toContain("applied 004_d");
    expect(await admin(url, "SELECT to_regclass('d') IS NOT NULL AS ok")).toEqual([{ ok: true }]);
  });

  it("refuses (exit 2, nothing recorded) where pgkeel applied something past NAME and a migration up to NAME is unrecorded; an unknown NAME is exit 2", async () => {
    const url = await freshDatabase("bl_refuse");
    expect((await runCli(["migrate", "--url", url], { cwd: makeProject({ "db/migrations/003_c.sql": three["db/migrations/003_c.sql"] }) })).code).toBe(0);
    const cwd = makeProject(three);
    const r = await runCli(["baseline", "--to", "002_b", "--url", url], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("pgkeel already applied 003_c, past 002_b, so 001_a, 002_b were skipped here");
    expect(await applied(url)).toEqual(["003_c"]);
    const unknown = await runCli(["baseline", "--to", "002", "--url", url], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("baseline --to 002: no migration file has that name");
  });
});

describe("repair", () => {
  it("accepts the checksum of changed migrations, --only one first, each change printed; migrate then goes on", async () => {
    const url = await freshDatabase("rp_changed");
    const cwd = makeProject(three);
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(0);
    writeFileSync(join(cwd, "db/migrations/001_a.sql"), "CREATE TABLE a (id bigint);");
    writeFileSync(join(cwd, "db/migrations/002_b.sql"), "CREATE TABLE b (id bigint);");
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(4);
    // --allow-changed is a one-run override: it stores nothing.
    expect((await runCli(["migrate", "--allow-changed", "--url", url], { cwd })).code).toBe(0);
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(4);

    const only = await runCli(["repair", "--only", "001_a", "--url", url], { cwd });
    expect(only.code, only.stderr).toBe(0);
    expect(only.stdout).toMatch(/^accept-checksum +001_a: accepted the edited file's checksum \([0-9a-f]{12} -> [0-9a-f]{12}\)\n$/);
    const s = JSON.parse((await runCli(["status", "--json", "--url", url], { cwd })).stdout) as { migrations: { name: string; state: string }[] };
    expect(s.migrations.map((m) => m.state)).toEqual(["applied", "changed", "applied"]);

    const all = await runCli(["repair", "--url", url], { cwd });
    expect(all.stdout).toContain("accept-checksum 002_b");
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(0);
    expect((await runCli(["repair", "--url", url], { cwd })).stderr).toContain("repair: nothing to repair");
  });

  it("--forget-missing deletes records whose file is gone", async () => {
    const url = await freshDatabase("rp_missing");
    const cwd = makeProject(three);
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(0);
    rmSync(join(cwd, "db/migrations/003_c.sql"));
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(4);
    expect((await runCli(["repair", "--url", url], { cwd })).stderr).toContain("nothing to repair");
    const r = await runCli(["repair", "--forget-missing", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^forget +003_c: forgot its record \(applied .*; its file is gone\)\n$/);
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(0);
    expect(await applied(url)).toEqual(["001_a", "002_b"]);
  });

  it("--mark-done NAME:STEP records a statement that took effect but lost its mark; --retry NAME:STEP makes the next run send one again", async () => {
    const url = await freshDatabase("rp_steps");
    const cwd = makeProject({
      "db/migrations/001_steps.sql": "-- pgkeel:no-transaction\nCREATE TABLE s1 (id int);\nCREATE TABLE s2 (id int);\nCREATE TABLE s3 (id int);",
    });
    // Statement 1 done and marked; statement 2 took effect but its mark was lost.
    await admin(url, "CREATE TABLE s1 (id int); CREATE TABLE s2 (id int);");
    expect((await runCli(["repair", "--mark-done", "001_steps:1", "--url", url], { cwd })).code).toBe(0);
    const stuck = await runCli(["migrate", "--url", url], { cwd });
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toContain('relation "s2" already exists');

    const bad = await runCli(["repair", "--mark-done", "001_steps:2", "--mark-done", "001_steps:9", "--url", url], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("db/migrations/001_steps.sql has statements 1 to 3");
    expect(await admin(url, "SELECT step FROM pgkeel.migration_steps ORDER BY step")).toEqual([{ step: 0 }]);

    const r = await runCli(["repair", "--mark-done", "001_steps:2", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("mark-done       001_steps:2: statement 2 (db/migrations/001_steps.sql:3) recorded as done: the next run goes on after it");
    // Someone dropped s1 by hand: --retry clears statement 1 so it runs again.
    await admin(url, "DROP TABLE s1");
    const retry = await runCli(["repair", "--retry", "001_steps:1", "--url", url], { cwd });
    expect(retry.stdout).toContain("retry           001_steps:1: statement 1 (db/migrations/001_steps.sql:2) cleared: the next run sends it again");
    const done = await runCli(["migrate", "--url", url], { cwd });
    expect(done.code, done.stderr).toBe(0);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('s1', 's2', 's3')")).toEqual([{ n: 3 }]);
    const wrong = await runCli(["repair", "--retry", "000:1", "--url", url], { cwd: makeProject({ "db/migrations/000.sql": "SELECT 1;" }) });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("runs in one transaction, so it has no statement of unknown outcome");
  });
});
