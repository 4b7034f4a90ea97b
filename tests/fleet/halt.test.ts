import { beforeAll, describe, expect, it } from "vitest";
import { admin } from "../support/db.js";
import { freePort } from "../support/servers.js";
import { makeProject, runCli } from "../support/project.js";
import { events, fleetDatabases, fleetFiles, onceCheck, writeConfig } from "./support.js";

/** pgkeel's state on a member: null when it has none (the fleet never started it). */
async function stateOf(url: string): Promise<{ state: string | null; ledger: string | null }> {
  const [s] = await admin<{ state: string | null; ledger: string | null }>(url, "SELECT to_regnamespace('pgkeel')::text AS state, to_regclass('ledger')::text AS ledger");
  return s!;
}

const builds = async (url: string) => (await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pgkeel.index_builds"))[0]!.n;

/**
 * `--halt-after N` in a wave after the canary: 12 databases, a canary of one, then
 * waves of 4, one member at a time so the order is fixed. Two members of wave 2
 * fail for causes in their own database (a migration raises where a `poison`
 * table exists; a CHECK without NOT VALID is refused as unsafe where `legacy` is
 * large), with different exit statuses.
 */
describe("fleet --halt-after in a later wave", () => {
  const n = 12;
  let urls: string[] = [];
  const files = {
    ...fleetFiles("h"),
    "db/migrations/h_4_poison.sql": "DO $$ BEGIN IF to_regclass('poison') IS NOT NULL THEN RAISE EXCEPTION 'this member is poisoned'; END IF; END $$;\n",
    "db/migrations/h_5_check.sql": "ALTER TABLE legacy ADD CONSTRAINT legacy_n_positive CHECK (n > 0);\n",
  };

  beforeAll(async () => {
    urls = await fleetDatabases("fleethalt", n);
    for (const url of urls) await admin(url, "CREATE TABLE legacy (id int, n int)");
    await admin(urls[5]!, "CREATE TABLE poison ()");
    await admin(urls[6]!, "INSERT INTO legacy SELECT g, g FROM generate_series(1, 100) g");
  });

  it("stops starting members at the count, reports the rest as not started, exits with the most serious failure; a rerun after the fix finishes the rest once", async () => {
    const dir = makeProject(files);
    writeConfig(dir, { maxRetries: 2, retryCapMs: 50, safety: { minRows: 50 }, fleets: { dbs: { urls, canary: 1, waves: [4, 4, "100%"], concurrency: 1 } } });
    const r = await runCli(["run", "--fleet", "dbs", "--halt-after", "2"], { cwd: dir });
    // 6 (unsafe) is more serious than 1 (a fault raised running a file), whichever failed last.
    expect(r.code, r.stderr + r.stdout).toBe(6);
    expect(r.stderr).toMatch(/^wave 2: 4 members$/m);
    expect(r.stderr).toContain("halt: 2 failed members (halt after 2): no new member starts");
    expect(r.stdout).toMatch(/^failed\s+1\s+postgres:\/\/\S+fleethalt_\d+_5 .*this member is poisoned/m);
    expect(r.stdout).toMatch(/^failed\s+6\s+postgres:\/\/\S+fleethalt_\d+_6  refusing to migrate: 1 unsafe statement[^\n]*\n.*h_5_check\.sql:1:1: error constraint-missing-not-valid/m);
    for (const i of [7, 8, 9, 10, 11]) expect(r.stdout).toMatch(new RegExp(`^not started\\s+0\\s+postgres://\\S+fleethalt_\\d+_${i}$`, "m"));
    expect(r.stdout.trim().split("\n").pop()).toBe("fleet dbs: 2 failed of 12 members; 5 done, 0 done before, 5 not started; exit 6");
    // The rest of wave 2 (7, 8) and all of wave 3 were never touched.
    for (const url of urls.slice(7)) expect(await stateOf(url)).toEqual({ state: null, ledger: null });
    for (const url of urls.slice(0, 5)) expect(await onceCheck(url, "h")).toEqual({ ledger: 1, wrong: 0, rows: 120 });
    // Member 5 applied its first migrations before the one that raised; member 6 was refused before any.
    expect((await admin<{ n: number }>(urls[5]!, "SELECT count(*)::int AS n FROM ledger WHERE tag = 'h'"))[0]!.n).toBe(1);
    expect((await stateOf(urls[6]!)).ledger).toBeNull();
    // status --fleet: the two failures with their exits, the members never started pending.
    const st = await runCli(["status", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(st.code, st.stderr).toBe(0);
    const members = (JSON.parse(st.stdout) as { members: { state: string; exit: number }[] }).members;
    expect(members.map((m) => `${m.state} ${m.exit}`)).toEqual([...Array(5).fill("done 0"), "failed 1", "failed 6", ...Array(5).fill("pending 0")]);
    // Reading status gave the members never started no pgkeel state either.
    for (const url of urls.slice(7)) expect(await stateOf(url)).toEqual({ state: null, ledger: null });

    // Fix each cause in its database; the files stay as they were.
    await admin(urls[5]!, "DROP TABLE poison");
    await admin(urls[6]!, "TRUNCATE legacy; ANALYZE legacy");
    const rerun = await runCli(["run", "--fleet", "dbs", "--halt-after", "2", "--json"], { cwd: dir });
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    const ev = events(rerun.stdout);
    const ends = ev.filter((e) => e.type === "member-done") as { member: { target: string }; state: string }[];
    expect(ends.map((e) => e.state)).toEqual([...Array(5).fill("skipped"), ...Array(7).fill("done")]);
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 0, counts: { done: 7, skipped: 5, failed: 0, unreachable: 0, pending: 0 } });
    // Nothing twice: one ledger row, every counter bumped once, each index built once.
    for (const url of urls) {
      expect(await onceCheck(url, "h")).toEqual({ ledger: 1, wrong: 0, rows: 120 });
      expect(await builds(url)).toBe(1);
    }
  });
});

/**
 * README: unreachable members "stop no other member unless --halt-after says so".
 * One in wave 1 (not the canary, whose halt-after is 1 by default): later waves
 * still run; with --halt-after 1 they do not.
 */
describe("fleet with an unreachable member after the canary", () => {
  let urls: string[] = [];
  let members: string[] = [];

  beforeAll(async () => {
    urls = await fleetDatabases("fleetgone", 6);
    const down = `postgres://app:pw@127.0.0.1:${await freePort()}/gone`;
    members = [urls[0]!, urls[1]!, down, ...urls.slice(2)];
  });

  it("later waves still run without --halt-after; with --halt-after 1 they do not start", async () => {
    const config = { maxRetries: 2, retryCapMs: 50, fleets: { dbs: { urls: members, canary: 1, waves: [3, "100%"] } } };
    const dir = makeProject(fleetFiles("u"));
    writeConfig(dir, config);
    const r = await runCli(["run", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(3);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.type === "wave-start").map((e) => e.wave)).toEqual(["canary", "wave 1", "wave 2"]);
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 3, counts: { done: 6, unreachable: 1, failed: 0, pending: 0 } });
    for (const url of urls) expect(await onceCheck(url, "u")).toEqual({ ledger: 1, wrong: 0, rows: 120 });

    // New work; --halt-after 1 counts the unreachable member: wave 2 never starts.
    const dir2 = makeProject({ ...fleetFiles("u"), ...fleetFiles("v") });
    writeConfig(dir2, config);
    const halted = await runCli(["run", "--fleet", "dbs", "--json", "--halt-after", "1"], { cwd: dir2 });
    expect(halted.code, halted.stderr).toBe(3);
    const hev = events(halted.stdout);
    expect(hev.filter((e) => e.type === "wave-start").map((e) => e.wave)).toEqual(["canary", "wave 1"]);
    expect(hev.at(-1)).toMatchObject({ type: "fleet-done", exit: 3, counts: { done: 3, unreachable: 1, pending: 3 } });
    for (const url of urls.slice(3)) expect((await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM ledger WHERE tag = 'v'"))[0]!.n).toBe(0);
  });
});
