import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, withDatabase } from "../support/db.js";
import { makeProject } from "../support/project.js";
import { startEmbedded, startStandby, type EmbeddedServer, type Standby } from "../support/servers.js";
import { startCli, until } from "../operate/cli.js";

/**
 * The replication-lag signal against a real streaming replica: a primary of its
 * own (the suite's shared server has no standby, so other backfills are never
 * throttled by this one) and a standby started from a base backup of it. The
 * server-wide signals (active sessions, autovacuum settings) are tested on the
 * same primary, where no other test's sessions count.
 */
let primary: EmbeddedServer | undefined;
let standby: Standby | undefined;

beforeAll(async () => {
  primary = await startEmbedded();
  standby = await startStandby(primary, { name: "replica1" });
}, 120_000);

afterAll(async () => {
  await standby?.shutdown();
  await primary?.shutdown();
}, 60_000);

interface Ev {
  type: string;
  state?: string;
  signal?: string | null;
  value?: number | null;
  limit?: number | null;
  reason?: string;
}
const events = (stdout: string): Ev[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Ev);
const throttle = (stdout: string) => events(stdout).filter((e) => e.type === "backfill-throttle");

let n = 0;
async function database(rows: number): Promise<{ url: string; onStandby: string }> {
  const name = `replica_${process.pid}_${n++}`;
  await admin(primary!.url, `CREATE DATABASE ${name}`);
  const url = withDatabase(primary!.url, name);
  await admin(url, `CREATE TABLE t (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0); INSERT INTO t (id) SELECT generate_series(1, ${rows}); ANALYZE t;`);
  const onStandby = withDatabase(standby!.url, name);
  await until("the standby replayed the new table", async () => (await admin(onStandby, "SELECT count(*)::int AS n FROM t"))[0]!.n === rows);
  return { url, onStandby };
}

describe("test bed: a streaming replica", () => {
  it("the primary lists the standby as streaming, and the standby is in recovery", async () => {
    expect(await admin(primary!.url, "SELECT application_name, state FROM pg_stat_replication")).toEqual([{ application_name: "replica1", state: "streaming" }]);
    expect(await admin(standby!.url, "SELECT pg_is_in_recovery() AS r")).toEqual([{ r: true }]);
  });
});

describe("health throttle: replication lag", () => {
  it("pausing the standby's replay pauses the backfill, which names the standby and its lag; resuming replay lets it finish", async () => {
    const { url, onStandby } = await database(50_000);
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ backfill: { health: { replicationLag: "1s", replicationLagBytes: false } } }),
      "db/backfills/001_bump.sql": "-- pgkeel:backfill table=t key=id batch=500 target=0 pause=50ms\nUPDATE t SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
    });
    await admin(onStandby, "SELECT pg_wal_replay_pause()");
    await until("replay paused", async () => (await admin(onStandby, "SELECT pg_is_wal_replay_paused() AS p"))[0]!.p === true);
    const run = startCli(["backfill", "--json", "--url", url], cwd);
    try {
      await until("the backfill paused", () => throttle(run.stdout()).some((e) => e.state === "paused"));
      const paused = throttle(run.stdout()).find((e) => e.state === "paused")!;
      expect(paused).toMatchObject({ signal: "replication-lag", limit: 1 });
      expect(paused.value).toBeGreaterThan(1);
      expect(paused.reason).toMatch(/^replication lag \d+(\.\d)? s on standby replica1 \(limit 1\.0 s\)$/);
      const [cp] = await admin<{ done: boolean }>(url, "SELECT done FROM pgkeel.backfills");
      expect(cp!.done).toBe(false);
    } finally {
      await admin(onStandby, "SELECT pg_wal_replay_resume()");
    }
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const states = throttle(r.stdout).map((e) => e.state);
    expect(states.indexOf("paused")).toBeGreaterThan(-1);
    expect(states.slice(states.indexOf("paused"))).toContain("clear");
    expect(await admin(url, "SELECT count(*) FILTER (WHERE hits <> 1)::int AS wrong, sum(hits)::int AS sum FROM t")).toEqual([{ wrong: 0, sum: 50_000 }]);
  });

  it("a standby that disconnected counts by the WAL its slot holds back: the backfill pauses naming the slot, and goes on once the slot catches up", async () => {
    // A physical slot no standby streams from: what a standby that went away leaves behind.
    const slot = `gone_${process.pid}`;
    await admin(primary!.url, `SELECT pg_create_physical_replication_slot('${slot}', true)`);
    try {
      // Creating the database and its table writes more WAL than the limit, all held for the slot.
      const { url } = await database(5_000);
      const cwd = makeProject({
        "pgkeel.config.json": JSON.stringify({ backfill: { health: { replicationLag: false, replicationLagBytes: "1MB" } } }),
        "db/backfills/001_bump.sql": "-- pgkeel:backfill table=t key=id batch=500 target=0\nUPDATE t SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
      });
      const run = startCli(["backfill", "--json", "--url", url], cwd);
      await until("the backfill paused", () => throttle(run.stdout()).some((e) => e.state === "paused"));
      const paused = throttle(run.stdout()).find((e) => e.state === "paused")!;
      expect(paused).toMatchObject({ signal: "replication-lag-bytes", limit: 1024 ** 2 });
      expect(paused.reason).toMatch(new RegExp(`^replication lag [\\d.]+ MB of WAL on disconnected standby \\(slot ${slot}\\) \\(limit 1\\.0 MB\\)$`));
      // The standby comes back and catches up: its slot's restart position reaches the primary's.
      await admin(primary!.url, `SELECT pg_replication_slot_advance('${slot}', pg_current_wal_lsn())`);
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      expect(throttle(r.stdout).map((e) => e.state)).toContain("clear");
      expect(await admin(url, "SELECT count(*) FILTER (WHERE hits <> 1)::int AS wrong, sum(hits)::int AS sum FROM t")).toEqual([{ wrong: 0, sum: 5_000 }]);
    } finally {
      await admin(primary!.url, `SELECT pg_drop_replication_slot('${slot}')`);
    }
  });

  it("a role without pg_monitor sees no lag: pgkeel says so once and does not throttle on it, rather than reading it as none", async () => {
    const { url } = await database(2_000);
    const role = `bf_plain_${process.pid}_${n}`;
    await admin(url, `CREATE ROLE ${role} LOGIN PASSWORD 'plain-Secr3t'; GRANT CREATE ON DATABASE ${new URL(url).pathname.slice(1)} TO ${role}; ALTER TABLE t OWNER TO ${role}`);
    const asRole = new URL(url);
    asRole.username = role;
    asRole.password = "plain-Secr3t";
    // The premise: this role sees the standby but not its positions.
    expect(await admin(asRole.toString(), "SELECT application_name, replay_lsn, replay_lag FROM pg_stat_replication")).toEqual([
      { application_name: "replica1", replay_lsn: null, replay_lag: null },
    ]);
    const cwd = makeProject({
      "db/backfills/001_bump.sql": "-- pgkeel:backfill table=t key=id batch=500 target=0\nUPDATE t SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n",
    });
    const run = startCli(["backfill", "--url", asRole.toString()], cwd);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/this role cannot see/g)).toHaveLength(1);
    expect(r.stderr).toContain("warning: backfill 001_bump: this role cannot see the replication lag of its standbys (grant it pg_monitor): the backfill is not throttled on what it cannot see");
    expect(await admin(url, "SELECT sum(hits)::int AS sum FROM t")).toEqual([{ sum: 2_000 }]);
  });
});

describe("health throttle: server-wide signals, on the primary of its own", () => {
  const bump = "-- pgkeel:backfill table=t key=id batch=500 target=0 pause=20ms\nUPDATE t SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n";

  it("more active sessions than the limit pause the backfill; it finishes once they end", async () => {
    const { url } = await database(5_000);
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ backfill: { health: { activeSessions: 1, replicationLag: false, replicationLagBytes: false } } }),
      "db/backfills/001_bump.sql": bump,
    });
    const sleepers = [0, 1].map(() => admin(url, "SELECT pg_sleep(3600)").catch(() => undefined));
    const sleeping = async () => (await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND state = 'active'"))[0]!.n;
    await until("two sessions active", async () => (await sleeping()) === 2);
    const run = startCli(["backfill", "--json", "--url", url], cwd);
    try {
      await until("the backfill paused", () => throttle(run.stdout()).some((e) => e.state === "paused"));
      expect(throttle(run.stdout()).find((e) => e.state === "paused")).toMatchObject({
        signal: "active-sessions",
        value: 2,
        limit: 1,
        reason: "2 active sessions on the server (limit 1)",
      });
    } finally {
      await admin(url, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'");
      await Promise.all(sleepers);
    }
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(throttle(r.stdout).map((e) => e.state)).toContain("clear");
    expect(await admin(url, "SELECT sum(hits)::int AS sum FROM t")).toEqual([{ sum: 5_000 }]);
  });

  it("autovacuum: true pauses the backfill while autovacuum works on the table; it finishes once the worker is gone", async () => {
    const { url } = await database(50_000);
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ backfill: { health: { autovacuum: true, replicationLag: false, replicationLagBytes: false } } }),
      "db/backfills/001_bump.sql": bump,
    });
    // An autovacuum that starts within a second and crawls: every dead row counts, and it may do almost no work between naps.
    await admin(primary!.url, "ALTER SYSTEM SET autovacuum_naptime = '1s'");
    await admin(primary!.url, "SELECT pg_reload_conf()");
    try {
      await admin(url, "ALTER TABLE t SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)");
      await admin(url, "UPDATE t SET hits = 0");
      const vacuuming = async () =>
        (await admin(url, "SELECT 1 FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a USING (pid) WHERE v.relid = 't'::regclass AND a.query LIKE 'autovacuum:%'")).length === 1;
      await until("autovacuum working on t", vacuuming);
      const run = startCli(["backfill", "--json", "--url", url], cwd);
      await until("the backfill paused", () => throttle(run.stdout()).some((e) => e.state === "paused"));
      expect(throttle(run.stdout()).find((e) => e.state === "paused")).toMatchObject({ signal: "autovacuum", value: 1, limit: 0, reason: "autovacuum is working on public.t" });
      // No new worker after this one: then end the one working.
      await admin(primary!.url, "ALTER SYSTEM SET autovacuum = off");
      await admin(primary!.url, "SELECT pg_reload_conf()");
      await admin(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'autovacuum:%'");
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      expect(throttle(r.stdout).map((e) => e.state).slice(-1)).toEqual(["clear"]);
      expect(await admin(url, "SELECT sum(hits)::int AS sum FROM t")).toEqual([{ sum: 50_000 }]);
    } finally {
      await admin(primary!.url, "ALTER SYSTEM RESET autovacuum_naptime");
      await admin(primary!.url, "ALTER SYSTEM RESET autovacuum");
      await admin(primary!.url, "SELECT pg_reload_conf()");
    }
  });
});

