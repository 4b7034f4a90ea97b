import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { chaosKeel } from "../support/chaos.js";
import { makeProject } from "../support/project.js";
import { FaultProxy } from "../support/proxy.js";

/**
 * 20 seeded runs of a 30-migration suite through a proxy that kills connections
 * at random: before a query, right after it is forwarded (the COMMIT case), or
 * halfway through a reply. The DDL is not idempotent (ADD COLUMN without IF NOT
 * EXISTS, plain INSERTs), so any migration applied twice fails or shows.
 */
const count = 30;
const files: Record<string, string> = { "db/migrations/000_base.sql": "CREATE TABLE wide (id int); CREATE TABLE applied_log (n int NOT NULL);" };
for (let i = 1; i < count; i++) {
  const name = `db/migrations/${String(i).padStart(3, "0")}_step.sql`;
  files[name] =
    i === 15
      ? "CREATE INDEX CONCURRENTLY wide_c1_idx ON wide (c1);"
      : `ALTER TABLE wide ADD COLUMN c${i} int;\nCREATE TABLE t${i} (id int);\nINSERT INTO applied_log VALUES (${i});`;
}
files["db/migrations/029_code.mjs"] = `export async function up(db) {
  if (await db.columnExists("wide", "c29")) throw new Error("ran twice");
  await db.sql("ALTER TABLE wide ADD COLUMN c29 int");
  await db.sql("INSERT INTO applied_log VALUES ($1)", [29]);
}`;
delete files["db/migrations/029_step.sql"];

let cwd: string;
beforeAll(() => {
  cwd = makeProject(files);
});

// One retry per seed, as in the backfill chaos suite (see there): timing under load varies,
// a wrong result is deterministic per seed and still fails.
describe("chaos: random connection kills during migrate", { retry: 1, timeout: 30_000 }, () => {
  const seeds = Array.from({ length: 20 }, (_, i) => 1000 + i);
  let totalFaults = 0;
  afterAll(() => {
    // The suite only means something if faults really happened.
    expect(totalFaults).toBeGreaterThan(60);
  });

  it.each(seeds)("seed %i ends with exactly the right schema and tracking rows", async (seed) => {
    const url = await freshDatabase(`chaos_${seed}`);
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    proxy.startChaos(seed, 0.2);
    const keel = chaosKeel(proxy.url(url), cwd, seed);
    try {
      await keel.migrate();
    } finally {
      await keel.close();
      totalFaults += proxy.stopChaos();
      await proxy.stop();
    }
    const tracked = await admin<{ name: string }>(url, `SELECT name FROM pgkeel.migrations ORDER BY name COLLATE "C"`);
    expect(tracked.map((r) => r.name)).toEqual(Object.keys(files).map((f) => f.slice("db/migrations/".length).replace(/\.(sql|mjs)$/, "")).sort());
    const log = await admin<{ n: number }>(url, "SELECT n FROM applied_log ORDER BY n");
    expect(log.map((r) => r.n)).toEqual([...Array(count).keys()].slice(1).filter((i) => i !== 15));
    const cols = await admin<{ attname: string }>(url, "SELECT attname FROM pg_attribute WHERE attrelid = 'wide'::regclass AND attnum > 1 AND NOT attisdropped ORDER BY attnum");
    expect(cols.length).toBe(count - 2);
    expect(await admin(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'wide_c1_idx'::regclass")).toEqual([{ indisvalid: true }]);
  });
});
