import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../support/project.js";
import { dataDir, embeddedProject, embeddedProjectDir, events, readEmbedded } from "./support.js";

/**
 * The embedded database (no URL) under several OS processes at once (issue 15):
 * one process at a time on `.pgkeel/pglite/`, the others wait and then find the
 * work done.
 */
const released = { ".pgkeel/pglite/go-migrate": "", ".pgkeel/pglite/go-indexes": "", ".pgkeel/pglite/go-backfill": "" };

const expected = {
  applied: ["001", "002"],
  counters: { n: 600, min: 1, max: 1 },
  migrations: ["001_base", "002_more"],
  indexes: [{ name: "counters_held_idx", valid: true }],
  builds: 1,
  backfills: [{ name: "001_bump", done: true, rows: 600 }],
};

describe("four `pgkeel run` at once on the embedded default", () => {
  it("all exit 0, every unit applied once, and the directory opens cleanly afterwards", async () => {
    // On a directory never initialised (as a fresh checkout), where a process that is gone left its lock: they race to take it over.
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const dead = { pid: gone, host: hostname(), nonce: "dead", title: "pgkeel run", since: "2026-01-01T00:00:00Z" };
    const cwd = makeProject({ ...embeddedProject(), ...released, ".pgkeel/pglite.lock": JSON.stringify(dead) });
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(["run", "--json"], { cwd })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const all = runs.flatMap((r) => events(r.stdout));
    const byThisRun = (type: string) => all.filter((e) => e.type === type && e.by === "this-run").map((e) => e.name).sort();
    expect(byThisRun("migration-applied")).toEqual(["001_base", "002_more"]);
    expect(byThisRun("index-done")).toEqual(["counters_held_idx"]);
    expect(byThisRun("backfill-done")).toEqual(["001_bump"]);
    expect(await readEmbedded(cwd)).toEqual(expected);
  }, 120_000);
});

describe("a run SIGKILLed inside each phase, then run again", () => {
  // The killed run holds inside the phase (hold() spins until go-<phase> exists), so the kill lands there.
  const started: Record<string, (e: Record<string, unknown>) => boolean> = {
    migrate: (e) => e.type === "migration-start" && e.name === "002_more",
    indexes: (e) => e.type === "index-start",
    // A batch has committed; the batch that reaches past id 100 holds.
    backfill: (e) => e.type === "backfill-progress",
  };
  for (const phase of ["migrate", "indexes", "backfill"] as const) {
    it(`killed during ${phase}: the rerun takes the dead run's lock at once and ends as an uninterrupted run`, async () => {
      const go = Object.fromEntries(Object.entries(released).filter(([k]) => !k.endsWith(`go-${phase}`)));
      const cwd = await embeddedProjectDir({ ...embeddedProject(), ...go });
      const killed = await runCli(["run", "--json"], { cwd, killWhen: ({ stdout }) => events(stdout).some(started[phase]!) });
      expect(killed.signal, killed.stderr).toBe("SIGKILL");
      writeFileSync(join(dataDir(cwd), `go-${phase}`), "");
      const rerun = await runCli(["run", "--json"], { cwd });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(events(rerun.stdout).filter((e) => e.type === "waiting")).toEqual([]);
      const { builds, ...state } = await readEmbedded(cwd);
      const { builds: once, ...uninterrupted } = expected;
      expect(state).toEqual(uninterrupted);
      // The history counts a build the kill cut off (if it had started) besides the one that finished.
      if (phase === "indexes") expect([1, 2]).toContain(builds);
      else expect(builds).toBe(once);
    }, 120_000);
  }
});
