import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/** A migration with no statements is refused before anything runs (SPEC section 2). */
describe("empty migrations", () => {
  it("a file just made by create: exit 1 naming the file and saying it is empty; nothing applied or recorded", async () => {
    const url = await freshDatabase("empty_mig");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int);" });
    const made = await runCli(["create", "add leads"], { cwd });
    expect(made.code, made.stderr).toBe(0);
    const file = made.stdout.trim();
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`pgkeel: ${file}: the migration has no statements`);
    expect(r.stderr).toMatch(/empty.*pgkeel create/);
    expect(await admin(url, "SELECT to_regclass('a') IS NULL AS no_a, to_regclass('pgkeel.migrations') IS NULL AS no_state")).toEqual([{ no_a: true, no_state: true }]);
    // Once it holds SQL, it runs: the refusal left nothing behind to call drift.
    writeFileSync(join(cwd, file), "CREATE TABLE b (id int);\n");
    const again = await runCli(["migrate", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 2 }]);
  });

  it("comments and semicolons alone count as empty too", async () => {
    const url = await freshDatabase("empty_mig");
    const cwd = makeProject({ "db/migrations/001_a.sql": "-- pgkeel:lock-timeout 2s\n/* later */\n;\n" });
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("db/migrations/001_a.sql: the migration has no statements");
  });
});
