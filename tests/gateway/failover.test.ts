import { describe, expect, it } from "vitest";
import { createKeel, defaultTuning, Gateway, pgDriver, type GatewayEvent, type KeelEvent } from "../../src/index.js";
import { admin, freshDatabase, serverUrl, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * A managed database's failover moves the host name to the new primary; until
 * it does, the old one answers every write with 25006 (read-only transaction).
 * Here the database is made read-only for new sessions, which is what pgkeel's
 * connections see.
 */
const setReadOnly = (url: string, on: boolean) =>
  admin(withDatabase(serverUrl(), "postgres"), `ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET default_transaction_read_only = ${on ? "on" : "off"}`);

describe("25006: the server answers read-only", () => {
  it("is reported as a failover, the pool is thrown away, and the run finishes once the server takes writes again", async () => {
    const url = await freshDatabase("failover");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int);", "db/migrations/002_b.sql": "CREATE TABLE b (id int);" });
    await setReadOnly(url, true);
    let sawFailover: () => void = () => {};
    const failover = new Promise<void>((r) => (sawFailover = r));
    const events: KeelEvent[] = [];
    const keel = createKeel({
      url,
      cwd,
      retryFirstMs: 20,
      retryCapMs: 100,
      maxRetries: 1000,
      onEvent: (e) => {
        events.push(e);
        if (e.type === "retry" && e.kind === "failover") sawFailover();
      },
    });
    try {
      const run = keel.migrate();
      await failover;
      // The "new primary": sessions opened from now on may write. Pooled ones opened before may not,
      // so the run finishes only if the pool was discarded.
      await setReadOnly(url, false);
      expect(await run).toMatchObject({ applied: ["001_a", "002_b"], skipped: [] });
    } finally {
      await keel.close();
    }
    const retries = events.filter((e): e is Extract<KeelEvent, { type: "retry" }> => e.type === "retry");
    expect(retries[0]).toMatchObject({ kind: "failover", reason: expect.stringContaining("25006") });
    expect(retries.every((e) => e.kind === "failover")).toBe(true);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 2 }]);
  });

  it("a read-only role or a replica given by mistake: retries run out, exit 3, and the message says what else it may be", async () => {
    const url = await freshDatabase("failover_never");
    await setReadOnly(url, true);
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int);" });
    const r = await runCli(["migrate", "--max-retries", "3", "--retry-cap", "50", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain("attempt 1 failed (failover: 25006");
    expect(r.stderr).toMatch(/gave up after 3 attempts over [\d.]+ s; last cause: 25006 .*read-only.*replica.*default_transaction_read_only/);
  });
});

describe("node-postgres pool: 'timeout exceeded when trying to connect'", () => {
  it("is a connection failure: the pool is replaced and the unit retried", async () => {
    const url = await freshDatabase("pool_timeout");
    const events: GatewayEvent[] = [];
    const gw = new Gateway(pgDriver(url, { ...defaultTuning, maxConnections: 1, connectTimeoutMs: 300 }), {
      retry: { maxAttempts: 3, firstMs: 10, capMs: 20 },
      onEvent: (e) => events.push(e),
    });
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    try {
      // The only connection is held by one unit; the next one cannot get a connection from this pool.
      const holder = gw.executeWithRetry({ name: "holder", run: async (db) => (await db.rows("SELECT 1 AS one"), await held) });
      const waiter = await gw.query<{ two: number }>("waiter", "SELECT 2 AS two");
      release();
      await holder;
      expect(waiter).toEqual([{ two: 2 }]);
    } finally {
      release();
      await gw.close();
    }
    expect(events).toEqual([expect.objectContaining({ type: "retry", unit: "waiter", kind: "connection", reason: "timeout exceeded when trying to connect" })]);
  });
});
