import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseError, LoginError, RetriesExhaustedError } from "../../src/errors.js";
import { admin, freshDatabase, terminatePgkeelSessions, withDatabase } from "../support/db.js";
import { testGateway } from "../support/gateway.js";
import { until } from "../support/wait.js";
import { FaultProxy } from "../support/proxy.js";

/**
 * Each row of SPEC section 4's table, produced by a real server or the fault
 * proxy, and what the gateway did with it.
 */
let url: string;
let proxy: FaultProxy;

beforeAll(async () => {
  url = await freshDatabase("gw_class");
  const u = new URL(url);
  proxy = await new FaultProxy(u.hostname, Number(u.port || 5432)).start();
  await admin(url, "CREATE TABLE hits (id serial PRIMARY KEY, at timestamptz DEFAULT now())");
});
afterAll(async () => {
  await proxy.stop();
});

async function hitCount(): Promise<number> {
  return Number((await admin<{ n: string }>(url, "SELECT count(*) AS n FROM hits"))[0]!.n);
}

describe("connection lost before COMMIT: pool discarded, unit retried", () => {
  const faults: [string, (p: FaultProxy) => void][] = [
    ["clean close (Connection terminated unexpectedly)", (p) => p.cutBeforeQuery()],
    ["cut halfway through a reply", (p) => p.cutMidReply()],
  ];
  for (const [label, arm] of faults) {
    it(label, async () => {
      const t = testGateway(proxy.url(url));
      try {
        await t.gw.query("warm", "SELECT 1");
        arm(proxy);
        const rows = await t.gw.query<{ n: number }>("probe", "SELECT 42 AS n");
        expect(rows).toEqual([{ n: 42 }]);
        expect(t.retries()).toHaveLength(1);
        expect(t.retries()[0]).toMatchObject({ kind: "connection", unit: "probe" });
        expect(t.discards()).toBe(1);
      } finally {
        await t.gw.close();
      }
    });
  }

  it("reset (ECONNRESET) and clean close of idle pooled connections", async () => {
    for (const how of ["reset", "end"] as const) {
      const t = testGateway(proxy.url(url));
      try {
        await t.gw.query("warm", "SELECT 1");
        const before = proxy.connections;
        proxy.dropAll(how);
        await new Promise((r) => setTimeout(r, 50));
        expect(await t.gw.query("after drop", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
        expect(proxy.connections).toBeGreaterThan(before);
      } finally {
        await t.gw.close();
      }
    }
  });

  it("57P01 from pg_terminate_backend mid-statement", async () => {
    const t = testGateway(url);
    try {
      let attempts = 0;
      // Terminated once the server shows the sleep running: not on a clock that a loaded machine outruns.
      const killer = until("the sleep runs", async () =>
        (await admin<{ n: string }>(url, "SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'"))[0]!.n !== "0",
      ).then(() => terminatePgkeelSessions(url));
      const v = await t.gw.executeWithRetry({
        name: "sleepy",
        run: async (db) => {
          attempts++;
          if (attempts === 1) await db.query("SELECT pg_sleep(5)");
          return (await db.rows<{ v: number }>("SELECT 7 AS v"))[0]!.v;
        },
      });
      expect(await killer).toBe(1);
      expect(v).toBe(7);
      expect(t.retries()[0]).toMatchObject({ kind: "connection" });
      expect(t.retries()[0]!.type === "retry" && t.retries()[0]!.reason).toContain("57P01");
      expect(t.discards()).toBe(1);
    } finally {
      await t.gw.close();
    }
  });

  it("ECONNREFUSED while the server is down, then it comes back", async () => {
    const t = testGateway(proxy.url(url), 10);
    try {
      await t.gw.query("warm", "SELECT 1");
      proxy.refusing = true;
      proxy.dropAll("reset");
      setTimeout(() => (proxy.refusing = false), 400);
      expect(await t.gw.query("probe", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
      expect(t.retries().length).toBeGreaterThanOrEqual(1);
      expect(t.retries().every((e) => e.type === "retry" && e.kind === "connection")).toBe(true);
    } finally {
      proxy.refusing = false;
      await t.gw.close();
    }
  });
});

describe("connection lost during COMMIT: resolved by read-back", () => {
  it("a committed unit is not run again (non-idempotent effect counted)", async () => {
    const t = testGateway(proxy.url(url));
    try {
      await admin(url, "CREATE TABLE IF NOT EXISTS ledger (unit text PRIMARY KEY, n int NOT NULL)");
      await admin(url, "INSERT INTO hits DEFAULT VALUES");
      const before = await hitCount();
      proxy.cutAfterCommit();
      let runs = 0;
      const result = await t.gw.executeWithRetry({
        name: "add one hit",
        run: async (db) => {
          runs++;
          await db.query("BEGIN; INSERT INTO hits DEFAULT VALUES; INSERT INTO ledger VALUES ('u1', 1); COMMIT");
          return "ran";
        },
        resolve: async (db) => {
          const done = await db.rows("SELECT 1 FROM ledger WHERE unit = 'u1'");
          return done.length ? { outcome: "committed", value: "resolved" } : { outcome: "not-committed" };
        },
      });
      expect(runs).toBe(1);
      expect(result).toBe("resolved");
      expect(await hitCount()).toBe(before + 1);
      expect(t.events).toContainEqual({ type: "resolved", unit: "add one hit", outcome: "committed" });
    } finally {
      await t.gw.close();
    }
  });

  it("a unit that did not commit is run again once", async () => {
    const t = testGateway(proxy.url(url));
    try {
      const before = await hitCount();
      proxy.cutBeforeQuery();
      let runs = 0;
      await t.gw.executeWithRetry({
        name: "add one hit",
        run: async (db) => {
          runs++;
          await db.query("BEGIN; INSERT INTO hits DEFAULT VALUES; INSERT INTO ledger VALUES ('u2', 1); COMMIT");
        },
        resolve: async (db) =>
          (await db.rows("SELECT 1 FROM ledger WHERE unit = 'u2'")).length
            ? { outcome: "committed", value: undefined }
            : { outcome: "not-committed" },
      });
      expect(runs).toBe(2);
      expect(await hitCount()).toBe(before + 1);
    } finally {
      await t.gw.close();
    }
  });
});

describe("retried after backoff", () => {
  it("55P03 lock timeout, until the lock is released", async () => {
    const t = testGateway(url, 20);
    const pg = await import("pg");
    const holder = new pg.default.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE hits IN ACCESS EXCLUSIVE MODE");
      setTimeout(() => void holder.query("COMMIT"), 500);
      await t.gw.executeWithRetry({
        name: "needs the lock",
        run: (db) => db.query("BEGIN; SET LOCAL lock_timeout = '50ms'; LOCK TABLE hits; COMMIT"),
      });
      expect(t.retries().length).toBeGreaterThanOrEqual(1);
      expect(t.retries()[0]).toMatchObject({ kind: "lock-timeout" });
      expect(t.discards()).toBe(0);
    } finally {
      await holder.end();
      await t.gw.close();
    }
  });

  it("40P01 deadlock: the victim is retried", async () => {
    await admin(url, "CREATE TABLE IF NOT EXISTS dl (id int PRIMARY KEY); INSERT INTO dl VALUES (1), (2) ON CONFLICT DO NOTHING");
    const a = testGateway(url);
    const b = testGateway(url);
    // Each unit locks its first row, then waits until the other holds its own: the
    // second UPDATEs then wait on each other, a deadlock every time (no sleep racing).
    let holding = 0;
    const bothHold = until("both units hold their first row", () => holding >= 2);
    bothHold.catch(() => {}); // a unit that failed first reports the failure, not this wait
    try {
      const unit = (first: number, second: number) => ({
        name: `lock ${first} then ${second}`,
        run: async (db: import("../../src/gateway/gateway.js").UnitContext) => {
          await db.query(`BEGIN; UPDATE dl SET id = id WHERE id = ${first}`);
          holding++;
          await bothHold;
          await db.query(`UPDATE dl SET id = id WHERE id = ${second}; COMMIT`);
        },
      });
      // allSettled: neither gateway closes while the other's unit still has a query in flight.
      const results = await Promise.allSettled([a.gw.executeWithRetry(unit(1, 2)), b.gw.executeWithRetry(unit(2, 1))]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
      const retries = [...a.retries(), ...b.retries()];
      expect(retries.filter((e) => e.type === "retry" && e.kind === "rolled-back" && e.reason.includes("40P01"))).toHaveLength(1);
    } finally {
      await a.gw.close();
      await b.gw.close();
    }
  });

  it("40001 serialization failure is retried", async () => {
    const t = testGateway(url);
    try {
      let runs = 0;
      await t.gw.executeWithRetry({
        name: "serializable",
        run: async (db) => {
          runs++;
          if (runs === 1) await db.query("DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$");
        },
      });
      expect(runs).toBe(2);
      expect(t.retries()[0]).toMatchObject({ kind: "rolled-back" });
    } finally {
      await t.gw.close();
    }
  });

  it("53300 too many connections (role connection limit), until a slot frees", async () => {
    const role = `limited_${process.pid}`;
    await admin(url, `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'pw' CONNECTION LIMIT 1`);
    const u = new URL(url);
    u.username = role;
    u.password = "pw";
    const pg = await import("pg");
    const hog = new pg.default.Client({ connectionString: u.toString() });
    await hog.connect();
    const t = testGateway(u.toString(), 20);
    try {
      setTimeout(() => void hog.end(), 400);
      expect(await t.gw.query("squeeze in", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
      expect(t.retries()[0]).toMatchObject({ kind: "saturated" });
      expect(t.retries()[0]!.type === "retry" && t.retries()[0]!.reason).toContain("53300");
    } finally {
      await t.gw.close();
    }
  });
});

describe("not retried", () => {
  it("syntax error: fails at once with SQLSTATE, message and position", async () => {
    const t = testGateway(url);
    try {
      const err = await t.gw.query("bad", "SELECT 1;\nSELEC 2").catch((e) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err.sqlstate).toBe("42601");
      expect(err.serverMessage).toContain("SELEC");
      expect(err.details.position).toBe(11);
      expect(err.exitCode).toBe(1);
      expect(t.retries()).toHaveLength(0);
    } finally {
      await t.gw.close();
    }
  });

  it("57014 statement timeout and 23505 unique violation", async () => {
    const t = testGateway(url);
    try {
      const timeout = await t.gw
        .query("slow", "BEGIN; SET LOCAL statement_timeout = '50ms'; SELECT pg_sleep(2); COMMIT")
        .catch((e) => e);
      expect(timeout).toMatchObject({ sqlstate: "57014" });
      const dup = await t.gw.query("dup", "INSERT INTO dl VALUES (1)").catch((e) => e);
      expect(dup).toMatchObject({ sqlstate: "23505" });
      expect(t.retries()).toHaveLength(0);
      // The failed transaction was rolled back: the pooled connection is usable.
      expect(await t.gw.query("after", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      await t.gw.close();
    }
  });

  it("login refused: 3D000 no such database, 28000 no such role, exit 2 at once", async () => {
    const t = testGateway(withDatabase(url, "no_such_db_here"));
    try {
      const e = await t.gw.query("x", "SELECT 1").catch((x) => x);
      expect(e).toBeInstanceOf(LoginError);
      expect(e).toMatchObject({ sqlstate: "3D000", exitCode: 2 });
      expect(t.retries()).toHaveLength(0);
    } finally {
      await t.gw.close();
    }
    const u = new URL(url);
    u.username = "no_such_role_here";
    const t2 = testGateway(u.toString());
    try {
      const e = await t2.gw.query("x", "SELECT 1").catch((x) => x);
      expect(e).toBeInstanceOf(LoginError);
      expect(["28000", "28P01"]).toContain(e.sqlstate);
      expect(t2.retries()).toHaveLength(0);
    } finally {
      await t2.gw.close();
    }
  });

  it("28P01 bad password (skipped where the server trusts every login)", async (ctx) => {
    const role = `pwrole_${process.pid}`;
    await admin(url, `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'right'`);
    const u = new URL(url);
    u.username = role;
    u.password = "wrong";
    const t = testGateway(u.toString());
    try {
      const e = await t.gw.query("x", "SELECT 1").catch((x) => x);
      if (!(e instanceof Error)) ctx.skip();
      expect(e).toBeInstanceOf(LoginError);
      expect(e).toMatchObject({ sqlstate: "28P01", exitCode: 2 });
      expect(t.retries()).toHaveLength(0);
    } finally {
      await t.gw.close();
    }
  });
});

describe("retries exhausted", () => {
  it("throws with exit status 3 naming the last cause", async () => {
    const dead = await new FaultProxy("127.0.0.1", 1).start();
    dead.refusing = true;
    const t = testGateway(dead.url(url), 3);
    try {
      const e = await t.gw.query("unreachable", "SELECT 1").catch((x) => x);
      expect(e).toBeInstanceOf(RetriesExhaustedError);
      expect(e.exitCode).toBe(3);
      expect(e.attempts).toBe(3);
      expect(e.message).toMatch(/unreachable: gave up after 3 attempts over \d+\.\d s; last cause: .*(ECONNRESET|terminated|reset)/i);
      expect(t.retries()).toHaveLength(2);
    } finally {
      await t.gw.close();
      await dead.stop();
    }
  });
});

describe("pooler saturated", () => {
  it("PgBouncer's 'no more connections allowed' is retried until a client slot frees", async (ctx) => {
    const { tightBouncerUrl, bouncerSkip } = await import("../support/db.js");
    if (bouncerSkip() || !tightBouncerUrl()) ctx.skip();
    const target = withDatabase(tightBouncerUrl(), new URL(url).pathname.slice(1));
    const pg = await import("pg");
    const hogs = [new pg.default.Client({ connectionString: target }), new pg.default.Client({ connectionString: target })];
    for (const h of hogs) await h.connect();
    const t = testGateway(target, 20);
    try {
      setTimeout(() => void hogs[0]!.end(), 400);
      expect(await t.gw.query("squeeze in", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
      const first = t.retries()[0];
      expect(first).toMatchObject({ kind: "saturated" });
      expect(first!.type === "retry" && first!.reason).toContain("no more connections allowed");
    } finally {
      await hogs[1]!.end();
      await t.gw.close();
    }
  });
});
