import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { Output } from "../../src/cli/output.js";
import { freshDatabase, withDatabase, serverUrl } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/** Messages a newcomer reads first, as the CLI prints them. */
describe("wording", () => {
  it("a syntax error says 'syntax error' once, at file:line:column", async () => {
    const url = await freshDatabase("wording");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (\n  id int CHEK (id > 0)\n);" });
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('pgkeel: db/migrations/001_a.sql:2:10: syntax error at or near "CHEK"');
    expect(r.stderr).not.toMatch(/syntax error: syntax error/);
  });

  it("counts agree with their nouns: 1 migration, 1 index, 1 backfill; 2 migrations", async () => {
    const url = await freshDatabase("wording");
    const one = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, NULL);",
      "db/indexes/a.sql": "CREATE INDEX a_v_idx ON a (v);",
      "db/backfills/002_v.sql": "-- pgkeel:backfill table=a key=id\nUPDATE a SET v = 'x' WHERE id BETWEEN :from AND :to;",
    });
    const r = await runCli(["run", "--url", url], { cwd: one });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("run: done (1 migration applied, 1 index built, 1 backfill finished)");
    expect(r.stderr).toMatch(/finished 002_v: 1 row \(\d+ ms\)/);
    const s = await runCli(["status", "--url", url], { cwd: one });
    expect(s.stdout).toContain("backfill   done     002_v (1 row)");

    const two = makeProject({ "db/migrations/001_a.sql": "SELECT 1;", "db/migrations/002_b.sql": "SELECT 2;" });
    const r2 = await runCli(["run", "--url", await freshDatabase("wording")], { cwd: two });
    expect(r2.stderr).toContain("run: done (2 migrations applied, 0 indexes built, 0 backfills finished)");
  });

  it("a database that does not exist: exit 2, saying how to create it", async () => {
    const r = await runCli(["migrate", "--url", withDatabase(serverUrl(), "no_such_db_wording")], { cwd: makeProject({}) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('database "no_such_db_wording" does not exist (SQLSTATE 3D000): create it (createdb no_such_db_wording, or CREATE DATABASE no_such_db_wording;)');
  });

  it("progress in a log never says 'about 0 s left', and comes at most every few seconds", () => {
    let text = "";
    const err = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
    let clock = 0;
    const out = new Output({ json: false, quiet: false, eventsToStdout: true }, new Writable({ write: (_c, _e, cb) => cb() }), err, () => clock);
    const progress = (rowsDone: number, etaSeconds: number | null) =>
      out.event({ type: "backfill-progress", name: "b", rowsDone, estimatedRows: 1000, rowsPerSecond: 5000, etaSeconds, batchSize: 100, lastBatchMs: 20 });
    out.event({ type: "backfill-start", name: "b", table: "t", rowsDone: 0, estimatedRows: 1000, workers: 1 });
    progress(100, 1); // right after the start: too soon for a log line
    expect(text).not.toContain("rows/s");
    clock = 4_000;
    progress(500, 1);
    expect(text).not.toContain("rows/s");
    clock = 5_000; // five seconds after the start, the next line is due
    progress(999, 0);
    expect(text).toContain("    b: 999 of about 1,000 rows, 5,000 rows/s, batch 100\n");
    clock = 6_000;
    progress(1000, 0);
    expect(text.match(/rows\/s/g)).toHaveLength(1);
    expect(text).not.toMatch(/0 s left/);
    out.close();
  });

  it("the README stands on its own: no references to a spec the user does not have", () => {
    const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
    expect(readme).not.toMatch(/SPEC/i);
  });
});
