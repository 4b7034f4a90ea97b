import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { makeProject } from "../support/project.js";

/**
 * A project for the embedded database (no URL): a non-idempotent migration
 * history, one index and a `counter = counter + 1` backfill. `hold(tag)` spins
 * until the file `go-<tag>` exists in the data directory, so a test can stop a
 * run inside a phase and kill it there without guessing at a clock. The
 * backfill holds past id 100, after its first batch has committed.
 */
export function embeddedProject(rows = 600): Record<string, string> {
  return {
    "db/migrations/001_base.sql": [
      "CREATE TABLE applied (what text NOT NULL);",
      "CREATE TABLE counters (id int PRIMARY KEY, counter int NOT NULL DEFAULT 0);",
      `INSERT INTO counters (id) SELECT generate_series(1, ${rows});`,
      // Spins while the test holds the phase; pg_stat_file reads the data directory.
      // After two minutes it gives up, so a run a failed test never killed does not spin on.
      // row_id keeps the planner from folding a call with constant arguments ahead of time.
      `CREATE FUNCTION hold(tag text, row_id int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
       BEGIN
         FOR i IN 1..6000 LOOP
           IF (pg_stat_file('go-' || tag, true)).size IS NOT NULL THEN RETURN 0; END IF;
           PERFORM pg_sleep(0.02);
         END LOOP;
         RAISE EXCEPTION 'hold(%): nobody released it', tag;
       END $$;`,
      "INSERT INTO applied VALUES ('001');",
    ].join("\n"),
    "db/migrations/002_more.sql": "ALTER TABLE counters ADD COLUMN note text;\nINSERT INTO applied VALUES ('002');\nSELECT hold('migrate', 0);",
    "db/indexes/counters.sql": "CREATE INDEX counters_held_idx ON counters ((counter + hold('indexes', id)));",
    "db/backfills/001_bump.sql":
      "-- pgkeel:backfill table=counters key=id batch=100\nUPDATE counters SET counter = counter + 1 + CASE WHEN id > 100 THEN hold('backfill', id) ELSE 0 END WHERE id BETWEEN :from AND :to;",
  };
}

export const dataDir = (cwd: string) => join(cwd, ".pgkeel", "pglite");

let template: Promise<string> | undefined;

/**
 * A project whose embedded database is already initialised: a copy of one
 * initialised once per test file, since initdb is most of a first run's time.
 */
export async function embeddedProjectDir(files: Record<string, string>): Promise<string> {
  template ??= (async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "pgkeel-pglite-")), "data");
    const db = new PGlite(dir);
    await db.waitReady;
    await db.close();
    return dir;
  })();
  const cwd = makeProject(files);
  cpSync(await template, dataDir(cwd), { recursive: true });
  return cwd;
}

export interface EmbeddedState {
  applied: string[];
  counters: { n: number; min: number; max: number };
  migrations: string[];
  indexes: { name: string; valid: boolean }[];
  builds: number;
  backfills: { name: string; done: boolean; rows: number }[];
}

/** Opens the data directory in this process (which also proves it opens cleanly) and reads what the runs left. */
export async function readEmbedded(cwd: string): Promise<EmbeddedState> {
  const db = new PGlite(dataDir(cwd));
  try {
    const rows = async <R>(sql: string) => (await db.query<R>(sql)).rows;
    return {
      applied: (await rows<{ what: string }>("SELECT what FROM applied ORDER BY what")).map((r) => r.what),
      counters: (await rows<EmbeddedState["counters"]>("SELECT count(*)::int AS n, min(counter) AS min, max(counter) AS max FROM counters"))[0]!,
      migrations: (await rows<{ name: string }>("SELECT name FROM pgkeel.migrations ORDER BY name")).map((r) => r.name),
      indexes: await rows<{ name: string; valid: boolean }>(
        "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'counters'::regclass AND NOT i.indisprimary ORDER BY 1",
      ),
      builds: (await rows<{ n: number }>("SELECT count(*)::int AS n FROM pgkeel.index_builds"))[0]!.n,
      backfills: await rows<{ name: string; done: boolean; rows: number }>("SELECT name, done, rows_done::int AS rows FROM pgkeel.backfills ORDER BY name"),
    };
  } finally {
    await db.close();
  }
}

/** The JSON events a `--json` run printed on stdout. */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
