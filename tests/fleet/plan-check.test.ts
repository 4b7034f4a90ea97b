import { beforeAll, describe, expect, it } from "vitest";
import { admin } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { fleetDatabases, writeConfig } from "./support.js";

/**
 * `plan --fleet --check` is the CI gate over a fleet, with the single-database
 * `plan --check`'s verdict per member and the worst of them as the exit: 4 drift,
 * 6 a pending statement that would be refused as unsafe, 7 pending, 0 nothing.
 */
describe("plan --fleet --check", () => {
  let urls: string[] = [];
  const files = { "db/migrations/c_1_items.sql": "CREATE TABLE items (id int PRIMARY KEY, n int);\n" };

  beforeAll(async () => {
    urls = await fleetDatabases("fleetcheck", 3);
  });

  it("7 while pending, 6 when a member's pending statement is unsafe there, 4 on drift, 0 when done; it reads only", async () => {
    const dir = makeProject(files);
    writeConfig(dir, { safety: { minRows: 50 }, fleets: { dbs: { urls } } });
    const check = () => runCli(["plan", "--fleet", "dbs", "--check"], { cwd: dir });

    const pending = await check();
    expect(pending.code, pending.stderr).toBe(7);
    expect(pending.stderr).toMatch(/fleetcheck_\d+_0: check: pending: migration c_1_items \(exit 7\)/);
    // Reading wrote nothing on any member.
    for (const url of urls) expect(await admin(url, "SELECT to_regnamespace('pgkeel')::text AS s")).toEqual([{ s: null }]);

    const run = await runCli(["migrate", "--fleet", "dbs"], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect((await check()).code).toBe(0);

    // A CHECK without NOT VALID, pending; member 1's table is large enough for it to be refused there.
    await admin(urls[1]!, "INSERT INTO items SELECT g, g FROM generate_series(1, 100) g; ANALYZE items");
    const unsafe = makeProject({ ...files, "db/migrations/c_2_check.sql": "ALTER TABLE items ADD CONSTRAINT items_n_positive CHECK (n > 0);\n" });
    writeConfig(unsafe, { safety: { minRows: 50 }, fleets: { dbs: { urls } } });
    const six = await runCli(["plan", "--fleet", "dbs", "--check"], { cwd: unsafe });
    expect(six.code, six.stderr).toBe(6);
    expect(six.stderr).toMatch(/fleetcheck_\d+_1: check: 1 pending statement would be refused as unsafe \(exit 6\)/);
    expect(six.stderr).toMatch(/fleetcheck_\d+_0: check: pending: migration c_2_check \(exit 7\)/);

    // An applied file changed on disk: drift, the most serious verdict.
    const drift = makeProject({ "db/migrations/c_1_items.sql": "CREATE TABLE items (id bigint PRIMARY KEY, n int);\n" });
    writeConfig(drift, { safety: { minRows: 50 }, fleets: { dbs: { urls } } });
    const four = await runCli(["plan", "--fleet", "dbs", "--check"], { cwd: drift });
    expect(four.code, four.stderr).toBe(4);
    expect(four.stderr).toMatch(/check: drift: migration c_1_items changed \(exit 4\)/);
  });
});
