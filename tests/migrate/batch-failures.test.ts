import pg from "pg";
import { describe, expect, it } from "vitest";
import { createKeel, type KeelEvent } from "../../src/index.js";
import { admin, freshDatabase, serverUrl, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { until } from "../support/wait.js";

/**
 * Transactional migrations go several to a message. When one fails, what the
 * run reports and what it sends again must be as true as if each file had run
 * on its own.
 */

async function keelOn(url: string, cwd: string, events: KeelEvent[] = []) {
  return createKeel({ url, cwd, onEvent: (e) => events.push(e), retryFirstMs: 20, retryCapMs: 100, maxRetries: 30 });
}

const appliedEvents = (events: KeelEvent[]) =>
  events.flatMap((e) => (e.type === "migration-applied" ? [{ name: e.name, by: e.by, ms: e.ms }] : []));

describe("a failing migration in a batch", () => {
  it("an error without a position (statement timeout) is placed without running the migration again: the lock is taken once, the statements before it ran once", async () => {
    const url = await freshDatabase("batch_locate");
    await admin(url, "CREATE TABLE t (id int); CREATE SEQUENCE runs");
    const cwd = makeProject({
      "db/migrations/001_lock.sql": "-- pgkeel:statement-timeout 1s\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;\nSELECT nextval('runs');\nSELECT pg_sleep(6);\n",
    });
    // Every transaction seen holding the ACCESS EXCLUSIVE lock on t, sampled from pg_locks.
    const holders = new Set<string>();
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    let done = false;
    const watching = (async () => {
      while (!done) {
        const { rows } = await watcher.query<{ vxid: string }>(
          "SELECT virtualtransaction AS vxid FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted",
        );
        // A transaction that is ending shows its backend with local id 0 while its locks are
        // released (seen on PG 18): that is the same transaction, not another one.
        for (const r of rows) if (!r.vxid.endsWith("/0")) holders.add(r.vxid);
      }
    })();
    const keel = await keelOn(url, cwd);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    done = true;
    await watching;
    await watcher.end();
    expect(err.sqlstate).toBe("57014");
    expect(err.message).toContain("db/migrations/001_lock.sql:4:1");
    // Not run again: one transaction ever held the lock, and nextval was called once.
    expect([...holders]).toHaveLength(1);
    expect(await admin(url, "SELECT last_value::int AS n FROM runs")).toEqual([{ n: 1 }]);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pgkeel.migrations")).toEqual([{ n: 0 }]);
  });

  it("migrations committed before the failing one are reported applied: events and the error's `applied`", async () => {
    const url = await freshDatabase("batch_partial");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_b.sql": "CREATE TABLE b (id int);",
      "db/migrations/003_c.sql": "CREATE TABLE c (id int);\nSELECT 1/0;",
    });
    const events: KeelEvent[] = [];
    const keel = await keelOn(url, cwd, events);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    expect(err.sqlstate).toBe("22012");
    expect(err.message).toContain("db/migrations/003_c.sql:2:");
    expect(err.applied).toEqual(["001_a", "002_b"]);
    expect(appliedEvents(events).map((e) => [e.name, e.by])).toEqual([
      ["001_a", "this-run"],
      ["002_b", "this-run"],
    ]);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "001_a" }, { name: "002_b" }]);
  });

  it("CLI --json: the committed ones are migration-applied events, and the error line lists them as applied", async () => {
    const url = await freshDatabase("batch_partial_cli");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/002_b.sql": "CREATE TABLE b (id int);\nSELECT 1/0;",
    });
    const r = await runCli(["migrate", "--json", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; name?: string; applied?: string[] });
    expect(lines.filter((l) => l.type === "migration-applied").map((l) => l.name)).toEqual(["001_a"]);
    expect(lines.at(-1)).toMatchObject({ type: "error", exitCode: 1, applied: ["001_a"] });
    expect(r.stderr).toContain("db/migrations/002_b.sql:2:");
  });

  it("each migration's duration is its own, not counted from the start of the message", async () => {
    const url = await freshDatabase("batch_duration");
    await admin(url, "CREATE TABLE gate (id int)");
    const cwd = makeProject({
      "db/migrations/001_waits.sql": "LOCK TABLE gate IN SHARE MODE;",
      "db/migrations/002_quick.sql": "CREATE TABLE quick (id int);",
    });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    // A writer's lock: it blocks 001's SHARE lock, not the safety check's reads before it.
    await holder.query("BEGIN; INSERT INTO gate VALUES (1)");
    const events: KeelEvent[] = [];
    const keel = await keelOn(url, cwd, events);
    const run = keel.migrate();
    // Let go once the server itself says 001 has waited half a second.
    await until("001 has waited 500 ms on the test's lock", async () =>
      (await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'relation' AND clock_timestamp() - query_start > interval '500 ms'"))[0]!.n === 1,
    );
    await holder.query("COMMIT");
    await holder.end();
    await run;
    await keel.close();
    const [waits, quick] = appliedEvents(events);
    expect(waits!.name).toBe("001_waits");
    expect(waits!.ms).toBeGreaterThanOrEqual(500);
    // 002 ran after 001's wait in the same message, and its time does not include it.
    expect(quick!.ms).toBeLessThan(waits!.ms);
    const rows = await admin<{ name: string; duration_ms: number }>(url, "SELECT name, duration_ms FROM pgkeel.migrations ORDER BY name");
    expect(rows[1]!.duration_ms).toBeLessThan(rows[0]!.duration_ms);
  });

  it("SQL the server's parser refuses for the whole message: the error names the right file and line, and the migrations before it are applied", async () => {
    // libpg-query (UTF8) reads a U& escape above 007F; a SQL_ASCII database's parser refuses it
    // while parsing the whole message, before any statement of it runs.
    const name = `batch_parse_${process.pid}_${Date.now().toString(36)}`;
    await admin(serverUrl(), `CREATE DATABASE "${name}" ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'`);
    const url = withDatabase(serverUrl(), name);
    const cwd = makeProject({
      "db/migrations/0001_a.sql": "CREATE TABLE x (id int);",
      "db/migrations/0002_b.sql": "CREATE TABLE y (id int);",
      "db/migrations/0003_c.sql": "CREATE TABLE c (id int);\nINSERT INTO c SELECT length(U&'\\00E9');",
    });
    const events: KeelEvent[] = [];
    const keel = await keelOn(url, cwd, events);
    const err = await keel.migrate().catch((e) => e);
    await keel.close();
    expect(err.sqlstate).toBe("0A000");
    expect(err.message).toContain("db/migrations/0003_c.sql:2:");
    expect(err.message).not.toContain("0001_a.sql");
    expect(err.applied).toEqual(["0001_a", "0002_b"]);
    expect(appliedEvents(events).map((e) => e.name)).toEqual(["0001_a", "0002_b"]);
    expect(await admin(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).toEqual([{ name: "0001_a" }, { name: "0002_b" }]);
    expect(await admin(url, "SELECT to_regclass('c') IS NULL AS absent")).toEqual([{ absent: true }]);
  });
});
