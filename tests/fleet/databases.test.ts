import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { freePort } from "../support/servers.js";
import { makeProject, runCli } from "../support/project.js";
import { events, fleetDatabases, fleetFiles, onceCheck, sampleConnections, writeConfig } from "./support.js";

/**
 * A fleet of 30 databases on the test server, taken through scenarios in turn;
 * each scenario brings new files (a new tag), so it is new work on every member.
 */
describe("fleet of databases", () => {
  const n = 30;
  let urls: string[] = [];
  // Fast retries for the member that cannot be reached; short claims for the runner killed halfway.
  const base = { maxRetries: 2, retryCapMs: 50, claimTtlSeconds: 2 };

  beforeAll(async () => {
    urls = await fleetDatabases("fleetdb", n);
  });

  it("a member whose migration fails in the canary wave stops the fleet: no later wave starts", async () => {
    // The first member already has the table the migration creates without IF NOT EXISTS.
    const files = { ...fleetFiles("a"), "db/migrations/a_0_clash.sql": "CREATE TABLE clash (id int);\n" };
    await admin(urls[0]!, "CREATE TABLE clash (id int)");
    const dir = makeProject(files);
    writeConfig(dir, { ...base, fleets: { dbs: { urls, canary: 1, waves: ["50%", "100%"] } } });
    const r = await runCli(["run", "--fleet", "dbs"], { cwd: dir });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/failed\s+1\s+postgres:\/\/\S+fleetdb_\d+_0 .*relation "clash" already exists/);
    expect(r.stdout.trim().split("\n").pop()).toMatch(/^fleet dbs: 1 failed of 30 members; 0 done, 0 done before, 29 not started; exit 1$/);
    expect(r.stderr).toContain("halt: canary ended with 1 failed member: no later wave starts");
    // No other member was touched: no pgkeel state, no ledger.
    for (const url of urls.slice(1)) {
      const [s] = await admin<{ state: string | null; ledger: string | null }>(url, "SELECT to_regnamespace('pgkeel')::text AS state, to_regclass('ledger')::text AS ledger");
      expect(s).toEqual({ state: null, ledger: null });
    }
    await admin(urls[0]!, "DROP TABLE clash");
  });

  it("a runner SIGKILLed halfway, then run again: the rerun finishes, skips members done, nothing ran twice, the per-host cap held", async () => {
    const dir = makeProject(fleetFiles("b"));
    // Members from a file, one URL per line.
    writeFileSync(join(dir, "tenants.txt"), `# tenant databases\n${urls.join("\n")}\n`);
    writeConfig(dir, { ...base, fleets: { dbs: { urlsFile: "tenants.txt", canary: 2, waves: [10, "100%"], concurrency: 8, perHost: 6 } } });
    const sampler = sampleConnections(urls);
    const killed = await runCli(["run", "--fleet", "dbs", "--json"], {
      cwd: dir,
      killWhen: ({ stdout }) => events(stdout).filter((e) => e.type === "member-done").length >= 12,
    });
    expect(killed.signal).toBe("SIGKILL");
    const doneBefore = events(killed.stdout).filter((e) => e.type === "member-done" && e.state === "done").length;
    expect(doneBefore).toBeGreaterThanOrEqual(12);
    expect(doneBefore).toBeLessThan(n);

    const rerun = await runCli(["run", "--fleet", "dbs", "--json"], { cwd: dir });
    const seen = await sampler.stop();
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    const ev = events(rerun.stdout);
    const ends = ev.filter((e) => e.type === "member-done");
    expect(ends).toHaveLength(n);
    // Members the killed runner finished are checked and skipped.
    expect(ends.filter((e) => e.state === "skipped").length).toBe(doneBefore);
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 0, counts: { done: n - doneBefore, skipped: doneBefore, failed: 0, unreachable: 0, pending: 0 } });
    for (const url of urls) expect(await onceCheck(url, "b")).toEqual({ ledger: 1, wrong: 0, rows: 120 });
    // perHost 6: three members of two connections each, never more, sampled all along.
    expect(seen.samples).toBeGreaterThan(10);
    expect(seen.peak).toBeGreaterThan(0);
    expect(seen.peak).toBeLessThanOrEqual(6);
  });

  it("three fleet runners at once share the work: each member's work is done once, all exit 0", async () => {
    // The files of earlier scenarios stay: a member missing applied files would be drift (its failure, exit 4).
    const dir = makeProject({ ...fleetFiles("b"), ...fleetFiles("c") });
    writeConfig(dir, { ...base, fleets: { dbs: { urls, canary: 1, concurrency: 4 } } });
    const runs = await Promise.all([0, 1, 2].map(() => runCli(["run", "--fleet", "dbs", "--json"], { cwd: dir })));
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(events(r.stdout).at(-1)).toMatchObject({ type: "fleet-done", exit: 0 });
    }
    // Every member was run by exactly one of the three; the others found it done.
    const ranHere = runs.flatMap((r) => events(r.stdout).filter((e) => e.type === "member-done" && e.state === "done" && e.by === "this-run"));
    expect(ranHere).toHaveLength(n);
    expect(new Set(ranHere.map((e) => JSON.stringify(e.member))).size).toBe(n);
    for (const url of urls) expect(await onceCheck(url, "c")).toEqual({ ledger: 1, wrong: 0, rows: 120 });
  });

  it("an unreachable member is reported with its cause; the rest finish; the exit is not 0; members come from a control query", async () => {
    const control = await freshDatabase("fleetctl");
    const down = `postgres://app:hunter2secret@127.0.0.1:${await freePort()}/gone`;
    await admin(control, "CREATE TABLE tenants (url text NOT NULL, active boolean NOT NULL DEFAULT true, pos serial)");
    await admin(control, "INSERT INTO tenants (url) SELECT unnest($1::text[])", [[...urls.slice(0, 20), down, ...urls.slice(20)]]);
    const dir = makeProject({ ...fleetFiles("b"), ...fleetFiles("c"), ...fleetFiles("d") });
    writeConfig(dir, { ...base, fleets: { dbs: { query: { url: control, sql: "SELECT url FROM tenants WHERE active ORDER BY pos" }, canary: 1 } } });
    const r = await runCli(["run", "--fleet", "dbs"], { cwd: dir });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/unreachable\s+3\s+postgres:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/gone .*ECONNREFUSED/);
    expect(r.stdout.trim().split("\n").pop()).toBe(`fleet dbs: 1 failed of 31 members (1 unreachable); 30 done, 0 done before, 0 not started; exit 3`);
    expect(r.stdout + r.stderr).not.toContain("hunter2secret");
    for (const url of urls) expect(await onceCheck(url, "d")).toEqual({ ledger: 1, wrong: 0, rows: 120 });

    // status --fleet --json: one object, a member each, the unreachable one with its error.
    const s = await runCli(["status", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(s.code, s.stderr).toBe(0);
    const st = JSON.parse(s.stdout) as { members: { target: string; state: string; exit: number; error?: string; migrations: { state: string }[]; backfills: { state: string }[] }[] };
    expect(st.members).toHaveLength(31);
    expect(st.members.filter((m) => m.state === "done")).toHaveLength(30);
    expect(st.members[20]).toMatchObject({ state: "unreachable", exit: 3, target: expect.stringContaining("app:***@") });
    expect(st.members[0]!.migrations.every((m) => m.state === "applied")).toBe(true);
    expect(s.stdout).not.toContain("hunter2secret");
  });

  it("a runner stopped by SIGTERM lets running members finish their unit, fails none, exits 143; the next run finishes", async () => {
    const dir = makeProject({ ...fleetFiles("b"), ...fleetFiles("c"), ...fleetFiles("d"), ...fleetFiles("e") });
    writeConfig(dir, { ...base, fleets: { dbs: { urls, canary: 1, concurrency: 4 } } });
    const stopped = await runCli(["run", "--fleet", "dbs", "--json"], {
      cwd: dir,
      killSignal: "SIGTERM",
      killWhen: ({ stdout }) => events(stdout).filter((e) => e.type === "member-done").length >= 5,
    });
    expect(stopped.code, stopped.stderr).toBe(143);
    const last = events(stopped.stdout).at(-1) as { type: string; exit: number; counts: Record<string, number> };
    expect(last).toMatchObject({ type: "fleet-done", exit: 143, counts: { failed: 0, unreachable: 0 } });
    expect(last.counts.pending).toBeGreaterThan(0);
    const rerun = await runCli(["run", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(rerun.code, rerun.stderr).toBe(0);
    for (const url of urls) expect(await onceCheck(url, "e")).toEqual({ ledger: 1, wrong: 0, rows: 120 });
  });
});
