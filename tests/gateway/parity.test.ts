import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultTuning, type Driver } from "../../src/db/driver.js";
import { pgDriver } from "../../src/db/pg.js";
import { pgliteDriver } from "../../src/db/pglite.js";
import { DatabaseError } from "../../src/errors.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { freshDatabase } from "../support/db.js";

/** The gateway's contract holds the same on embedded PGlite and on a real server. */
const drivers: [string, () => Promise<Driver>][] = [
  ["pg", async () => pgDriver(await freshDatabase("parity"), defaultTuning)],
  ["pglite", async () => pgliteDriver(join(mkdtempSync(join(tmpdir(), "pgkeel-parity-")), "db"))],
];

describe.each(drivers)("gateway contract on %s", (_name, make) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = new Gateway(await make(), { retry: { firstMs: 10, capMs: 20 } });
  });
  afterAll(() => gw.close());

  it("returns one result per statement, rows whenever the protocol sends them", async () => {
    const results = await gw.executeWithRetry({
      name: "multi",
      run: (db) =>
        db.query("CREATE TABLE IF NOT EXISTS p (id int PRIMARY KEY, v text); INSERT INTO p VALUES (1, 'a') RETURNING id; SHOW search_path; DELETE FROM p"),
    });
    expect(results.map((r) => r.command)).toEqual(["CREATE", "INSERT", "SHOW", "DELETE"]);
    expect(results[1]!.rows).toEqual([{ id: 1 }]);
    expect(results[2]!.rows).toHaveLength(1);
    expect(results[3]!.rows).toEqual([]);
  });

  it("binds $1 parameters", async () => {
    expect(await gw.query("params", "SELECT $1::int + 1 AS n, $2::text AS t", [41, "x"])).toEqual([{ n: 42, t: "x" }]);
  });

  it("fails with SQLSTATE and position, and leaves no open transaction", async () => {
    const err = await gw.query("bad", "BEGIN; INSERT INTO p VALUES (2, 'b'); SELECT nope FROM p; COMMIT").catch((e) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.sqlstate).toBe("42703");
    expect(err.details.position).toBe(46); // 1-based, where "nope" starts
    expect(await gw.query("after", "SELECT count(*)::int AS n FROM p")).toEqual([{ n: 0 }]);
    expect(await gw.query("tx state", "SELECT now() = statement_timestamp() AS fresh")).toEqual([{ fresh: true }]);
  });

  it("retries a 40001 and reports the retry", async () => {
    let runs = 0;
    await gw.executeWithRetry({
      name: "retry me",
      run: async (db) => {
        if (++runs === 1) await db.query("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$");
      },
    });
    expect(runs).toBe(2);
  });

  it("transaction-level advisory locks work (pgkeel's queue for runners)", async () => {
    const r = await gw.query("lock", "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('k', 0)); SELECT 1 AS ok; COMMIT");
    expect(r).toEqual([]);
    expect(await gw.query("locks left", "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")).toEqual([{ n: 0 }]);
  });
});
