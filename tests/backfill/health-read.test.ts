import pg from "pg";
import { describe, expect, it } from "vitest";
import { readHealth } from "../../src/catalog/health.js";
import { admin, freshDatabase } from "../support/db.js";
import { testGateway } from "../support/gateway.js";
import { until } from "../support/wait.js";

/** The one-statement health reading against a real server: which sessions count as waiting on the table. */
describe("health reading: lock waiters", () => {
  it("counts sessions queued on the table (a table lock, and a row: the first waiter holds the tuple lock), not pgkeel's own, not other tables'", async () => {
    const url = await freshDatabase("health_read");
    await admin(url, "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2); INSERT INTO other VALUES (1);");
    const { gw } = testGateway(url);
    const read = () => gw.executeWithRetry({ name: "health", run: (db) => readHealth(db, "public.t") });
    const clients: pg.Client[] = [];
    const session = async (app: string) => {
      const c = new pg.Client({ connectionString: url, application_name: app });
      await c.connect();
      clients.push(c);
      return c;
    };
    const waiting = async (n: number) =>
      (await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))[0]!.n === n;
    try {
      expect(await read()).toMatchObject({ lockWaiters: 0, standbys: [], autovacuum: 0, seesAll: true });
      const holder = await session("app");
      await holder.query("BEGIN; SELECT * FROM t WHERE id = 1 FOR UPDATE; SELECT * FROM other FOR UPDATE");
      // A row of t: the first waiter waits for the holder's transaction, holding the row's tuple lock.
      void (await session("app")).query("UPDATE t SET id = id WHERE id = 1").catch(() => {});
      await until("one row waiter", () => waiting(1));
      expect((await read()).lockWaiters).toBe(1);
      // pgkeel's own batch waiting for the same row is the backfill held up, not traffic behind it.
      void (await session("pgkeel:runner")).query("UPDATE t SET id = id WHERE id = 1").catch(() => {});
      await until("two row waiters", () => waiting(2));
      expect((await read()).lockWaiters).toBe(1);
      // Another table's queue is not this table's.
      void (await session("app")).query("UPDATE other SET id = id").catch(() => {});
      await until("three waiters", () => waiting(3));
      expect((await read()).lockWaiters).toBe(1);
      // A table lock queued behind the holder's row lock.
      void (await session("app")).query("BEGIN; LOCK TABLE t IN EXCLUSIVE MODE").catch(() => {});
      await until("four waiters", () => waiting(4));
      expect((await read()).lockWaiters).toBe(2);
      await holder.query("ROLLBACK");
      await until("no waiters", () => waiting(0));
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await gw.close?.();
    }
  });
});
