import { beforeAll, describe, expect, it } from "vitest";
import { admin } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { events, fleetDatabases, fleetFiles, onceCheck, writeConfig } from "./support.js";

/**
 * A member's latest fleet record ("done", "failed"), "started" when it has pgkeel
 * state but no record yet (a member being run), or null when it has no pgkeel state.
 */
async function fleetRecord(url: string): Promise<string | null> {
  const [t] = await admin<{ schema: string | null; runs: string | null }>(url, "SELECT to_regnamespace('pgkeel')::text AS schema, to_regclass('pgkeel.fleet_runs')::text AS runs");
  if (!t!.schema) return null;
  if (!t!.runs) return "started";
  const [r] = await admin<{ state: string }>(url, "SELECT state FROM pgkeel.fleet_runs ORDER BY at DESC LIMIT 1");
  return r?.state ?? "started";
}

/** `run --fleet dbs`, stopped with SIGTERM once its soak began; every member's fleet record as it was then. */
async function stopInSoak(dir: string, urls: string[]) {
  let seen: (string | null)[] = [];
  const stopped = await runCli(["run", "--fleet", "dbs", "--json"], {
    cwd: dir,
    killSignal: "SIGTERM",
    killWhen: async ({ stdout }) => {
      if (!events(stdout).some((e) => e.type === "soak")) return false;
      seen = await Promise.all(urls.map(fleetRecord));
      return true;
    },
  });
  return { stopped, seen };
}

type Ev = { type: string; wave?: string; after?: string; time: string; member?: { target: string } };

/**
 * `soak`: the wait after each wave before the next. Checked by state, not by the
 * clock: an hour-long soak is caught while it lasts (the wave before it is
 * recorded done, no member of the next has pgkeel state) and ended by SIGTERM.
 */
describe("fleet soak", () => {
  let urls: string[] = [];
  // The first scenario's files stay in the second: a member missing applied files would be drift.
  const failing = { ...fleetFiles("f"), "db/migrations/f_4_poison.sql": "DO $$ BEGIN IF to_regclass('poison') IS NOT NULL THEN RAISE EXCEPTION 'poisoned'; END IF; END $$;\n" };
  const config = (soak: string) => ({ maxRetries: 2, retryCapMs: 50, fleets: { dbs: { urls, canary: 1, waves: [2, "100%"], soak } } });

  beforeAll(async () => {
    urls = await fleetDatabases("fleetsoak", 6);
  });

  it("a failed wave ends the run at once: no soak after it, no later wave", async () => {
    const dir = makeProject(failing);
    await admin(urls[0]!, "CREATE TABLE poison ()");
    writeConfig(dir, config("1h"));
    // An hour's soak after the failed canary would outlast the test's timeout.
    const r = await runCli(["run", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(1);
    const ev = events(r.stdout) as Ev[];
    expect(ev.filter((e) => e.type === "soak")).toEqual([]);
    expect(ev.filter((e) => e.type === "wave-start").map((e) => e.wave)).toEqual(["canary"]);
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 1, counts: { failed: 1, pending: 5 } });
    await admin(urls[0]!, "DROP TABLE poison");
  });

  it("during the soak the wave before is done and the next has not started; SIGTERM ends the soak, the rerun soaks after each wave and finishes", async () => {
    const dir = makeProject({ ...failing, ...fleetFiles("s") });
    writeConfig(dir, config("1h"));
    const { stopped, seen } = await stopInSoak(dir, urls);
    expect(seen).toEqual(["done", null, null, null, null, null]);
    expect(stopped.code, stopped.stderr).toBe(143);
    const ev = events(stopped.stdout) as Ev[];
    expect(ev.find((e) => e.type === "soak")).toMatchObject({ after: "canary", ms: 3_600_000 });
    expect(ev.filter((e) => e.type === "wave-start").map((e) => e.wave)).toEqual(["canary"]);
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 143, counts: { done: 1, pending: 5, failed: 0 } });
    // Still nothing on the members after the canary.
    expect(await Promise.all(urls.map(fleetRecord))).toEqual(["done", null, null, null, null, null]);

    // A soak of 1s (the config is not part of what a member records as done). The canary
    // is done before, and its soak is served again: the stopped run never finished it.
    writeConfig(dir, config("1s"));
    const rerun = await runCli(["run", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(rerun.code, rerun.stderr).toBe(0);
    const all = events(rerun.stdout) as Ev[];
    const at = (pred: (e: Ev) => boolean) => all.findIndex(pred);
    for (const [before, next] of [["canary", "wave 1"], ["wave 1", "wave 2"]] as const) {
      const soak = at((e) => e.type === "soak" && e.after === before);
      expect(soak).toBeGreaterThan(at((e) => e.type === "wave-done" && e.wave === before));
      expect(soak).toBeLessThan(at((e) => e.type === "wave-start" && e.wave === next));
      // A lower bound only: the next wave started no sooner than the soak allows (timestamps are whole ms).
      const waited = Date.parse(all[at((e) => e.type === "wave-start" && e.wave === next)]!.time) - Date.parse(all[soak]!.time);
      expect(waited).toBeGreaterThanOrEqual(990);
    }
    expect(all.filter((e) => e.type === "soak")).toHaveLength(2);
    expect(all.at(-1)).toMatchObject({ type: "fleet-done", exit: 0, counts: { done: 5, skipped: 1 } });
    for (const url of urls) expect(await onceCheck(url, "s")).toEqual({ ledger: 1, wrong: 0, rows: 120 });
  });

  it("a soak past setTimeout's limit (about 24.8 days) still holds the next wave", async () => {
    const own = await fleetDatabases("fleetlongsoak", 3);
    const dir = makeProject(fleetFiles("l"));
    writeConfig(dir, { fleets: { dbs: { urls: own, canary: 1, soak: "30d" } } });
    const { stopped, seen } = await stopInSoak(dir, own);
    const ev = events(stopped.stdout) as Ev[];
    expect(ev.filter((e) => e.type === "wave-start").map((e) => e.wave)).toEqual(["canary"]);
    expect(seen).toEqual(["done", null, null]);
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(ev.find((e) => e.type === "soak")).toMatchObject({ after: "canary", ms: 30 * 86_400_000 });
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 143, counts: { done: 1, pending: 2 } });
  });
});
