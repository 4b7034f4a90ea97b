import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createKeel, type KeelEvent } from "../../src/index.js";
import { runCli, type CliRun } from "../support/project.js";
import { dataDir, embeddedProject, embeddedProjectDir, events } from "./support.js";

/**
 * The embedded database's directory lock (issue 15): a waiter says what it waits
 * for, a dead holder's lock is taken over at once, the wait is bounded (exit 3
 * naming the holder), and a second keel in one process waits for the first.
 */
const lockFile = (cwd: string) => `${dataDir(cwd)}.lock`;
const releasedAfterMigrate = { ".pgkeel/pglite/go-indexes": "", ".pgkeel/pglite/go-backfill": "" };

/** Starts a run that takes the lock and holds inside migration 002; resolves once it is there. */
async function holdingRun(cwd: string): Promise<{ pid: number; done: Promise<CliRun> }> {
  let there!: () => void;
  const reached = new Promise<void>((r) => (there = r));
  // killWhen only watches here: it never asks for the kill.
  const done = runCli(["run", "--json"], {
    cwd,
    killWhen: ({ stdout }) => {
      if (events(stdout).some((e) => e.type === "migration-start" && e.name === "002_more")) there();
      return false;
    },
  });
  await Promise.race([reached, done.then((r) => Promise.reject(new Error(`the holding run ended: ${r.stderr}`)))]);
  const holder = JSON.parse(readFileSync(lockFile(cwd), "utf8")) as { pid: number };
  return { pid: holder.pid, done };
}

describe("the embedded database's directory lock", () => {
  it("a second run waits, says for whom on one line, then finds the work done", async () => {
    const cwd = await embeddedProjectDir({ ...embeddedProject(), ...releasedAfterMigrate });
    const a = await holdingRun(cwd);
    let waiting!: (e: Record<string, unknown>) => void;
    const sawWait = new Promise<Record<string, unknown>>((r) => (waiting = r));
    const b = runCli(["run", "--json"], {
      cwd,
      killWhen: ({ stdout }) => {
        const w = events(stdout).find((e) => e.type === "waiting");
        if (w) waiting(w);
        return false;
      },
    });
    const w = await sawWait;
    expect(w.what).toContain(".pgkeel/pglite");
    expect(w.holder).toContain(`pid ${a.pid}`);
    expect(w.holder).toContain("pgkeel run");
    writeFileSync(join(dataDir(cwd), "go-migrate"), "");
    const [ra, rb] = await Promise.all([a.done, b]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    expect(events(rb.stdout).filter((e) => e.by === "this-run")).toEqual([]);
  }, 120_000);

  it("a bounded wait ends with exit 3 naming the holder; Ctrl-C ends a wait with 130; once the holder is killed the next run goes ahead at once", async () => {
    const cwd = await embeddedProjectDir({
      ...embeddedProject(),
      ...releasedAfterMigrate,
      "pgkeel.config.json": JSON.stringify({ embeddedWaitSeconds: 1 }),
      "default-wait.json": "{}",
    });
    const a = await holdingRun(cwd);
    const b = await runCli(["status"], { cwd });
    expect(b.code, b.stderr).toBe(3);
    expect(b.stderr).toMatch(new RegExp(`waiting: .*pglite.* pid ${a.pid} `));
    expect(b.stderr).toContain(`in use by pid ${a.pid} (pgkeel run`);
    expect(b.stderr).toContain(lockFile(cwd));

    // With the default wait, so only the signal can end it.
    const stopped = await runCli(["status", "--config", "default-wait.json"], {
      cwd,
      killSignal: "SIGINT",
      killWhen: ({ stderr }) => stderr.includes("waiting: "),
    });
    expect(stopped.code, stopped.stderr).toBe(130);

    process.kill(a.pid, "SIGKILL");
    expect((await a.done).signal).toBe("SIGKILL");
    writeFileSync(join(dataDir(cwd), "go-migrate"), "");
    const c = await runCli(["run"], { cwd });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).not.toContain("waiting");
  }, 120_000);

  it("a lock left by a process that is gone is taken over at once; one held on another host is waited for", async () => {
    const cwd = await embeddedProjectDir({
      "db/migrations/001_t.sql": "CREATE TABLE t (id int);",
      "pgkeel.config.json": JSON.stringify({ embeddedWaitSeconds: 1 }),
    });
    const write = (h: Record<string, unknown>) =>
      writeFileSync(lockFile(cwd), JSON.stringify({ host: hostname(), nonce: Math.random().toString(16), title: "pgkeel run", since: "2026-01-01T00:00:00Z", ...h }));
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid!;

    write({ pid: gone });
    let r = await runCli(["status"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("waiting");

    // A live pid that started later than the holder did: the pid was reused.
    write({ pid: process.pid, start: "1" });
    r = await runCli(["status"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("waiting");

    write({ pid: gone, host: "build-agent-7" });
    r = await runCli(["status"], { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`in use by pid ${gone} on host build-agent-7`);
  }, 120_000);

  it("a second keel in the same process waits for the first to close", async () => {
    const cwd = await embeddedProjectDir({ "db/migrations/001_t.sql": "CREATE TABLE t (id int);" });
    const first = createKeel({ cwd, env: {} });
    const seen: KeelEvent[] = [];
    let waited!: () => void;
    const waiting = new Promise<void>((r) => (waited = r));
    const second = createKeel({
      cwd,
      env: {},
      onEvent: (e) => {
        seen.push(e);
        if (e.type === "waiting") waited();
      },
    });
    try {
      expect((await first.migrate()).applied).toEqual(["001_t"]);
      const status = second.status();
      await waiting;
      expect(seen.find((e) => e.type === "waiting")).toMatchObject({ holder: expect.stringContaining("(this process)") });
      await first.close();
      expect((await status).migrations).toMatchObject([{ name: "001_t", state: "applied" }]);
    } finally {
      await first.close();
      await second.close();
    }
  }, 120_000);
});
