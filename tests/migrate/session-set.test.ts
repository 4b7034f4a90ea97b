import { describe, expect, it } from "vitest";
import { createKeel } from "../../src/index.js";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject } from "../support/project.js";

/**
 * Each migration starts from the session's defaults, as when each file runs in its
 * own psql: a plain SET in one file holds for the rest of that file only.
 */
async function migrate(url: string, files: Record<string, string>): Promise<void> {
  const keel = await createKeel({ url, cwd: makeProject(files) });
  try {
    await keel.migrate();
  } finally {
    await keel.close();
  }
}

describe("a plain SET in a migration", () => {
  it("holds for the rest of its file and does not reach the next migration of the batch, whatever the form (SET, SET SESSION, SET TIME ZONE, RESET)", async () => {
    const url = await freshDatabase("set_leak");
    await admin(url, `ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET timezone = 'Asia/Tokyo'`);
    await migrate(url, {
      "db/migrations/001_utc.sql": [
        // Once needed to get past the safety rule; now pgkeel makes these SETs local and the rule is quiet.
        "-- pgkeel:allow session-level-set checked by this test",
        "SET timezone = 'UTC';",
        "SET SESSION work_mem = '7MB';",
        "SET /* a comment */ search_path TO public, pg_catalog;",
        "CREATE TABLE in_001 AS SELECT current_setting('TimeZone') AS tz, current_setting('work_mem') AS mem;",
        "SET TIME ZONE 'America/Lima';",
        "RESET statement_timeout;",
      ].join("\n"),
      "db/migrations/002_after.sql": "CREATE TABLE in_002 AS SELECT current_setting('TimeZone') AS tz, current_setting('work_mem') AS mem, current_setting('search_path') AS path;",
      "db/migrations/003_code.mjs": "export async function up(db) { await db.sql(\"SET work_mem = '9MB'; CREATE TABLE in_003 AS SELECT current_setting('work_mem') AS mem\"); }",
      "db/migrations/004_after_code.sql": "CREATE TABLE in_004 AS SELECT current_setting('work_mem') AS mem, current_setting('TimeZone') AS tz;",
    });
    expect(await admin(url, "SELECT tz, mem FROM in_001")).toEqual([{ tz: "UTC", mem: "7MB" }]);
    expect(await admin(url, "SELECT tz, mem, path FROM in_002")).toEqual([{ tz: "Asia/Tokyo", mem: "4MB", path: '"$user", public' }]);
    expect(await admin(url, "SELECT mem FROM in_003")).toEqual([{ mem: "9MB" }]);
    expect(await admin(url, "SELECT mem, tz FROM in_004")).toEqual([{ mem: "4MB", tz: "Asia/Tokyo" }]);
  });

  it("in a no-transaction migration it ends with its own statement: the next statements and migrations run with the defaults", async () => {
    const url = await freshDatabase("set_notx");
    await migrate(url, {
      "db/migrations/001_notx.sql": "-- pgkeel:no-transaction\n-- pgkeel:allow session-level-set checked by this test\nSET work_mem = '7MB';\nCREATE TABLE in_001 AS SELECT current_setting('work_mem') AS mem;\nVACUUM in_001;",
      "db/migrations/002_after.sql": "CREATE TABLE in_002 AS SELECT current_setting('work_mem') AS mem;",
    });
    expect(await admin(url, "SELECT mem FROM in_001")).toEqual([{ mem: "4MB" }]);
    expect(await admin(url, "SELECT mem FROM in_002")).toEqual([{ mem: "4MB" }]);
  });
});
