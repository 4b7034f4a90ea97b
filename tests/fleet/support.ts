import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { admin, serverUrl, withDatabase } from "../support/db.js";
import { bumpBackfill, countersTable } from "../support/counters.js";

/**
 * Project files for fleet tests, named by `tag` so each scenario's run is new work
 * on members that ran earlier scenarios: a non-idempotent migration (a ledger row
 * per application), a counters table and a backfill that bumps each row once, and
 * an index. A member that did anything twice shows a ledger count or hits above 1.
 */
export function fleetFiles(tag: string): Record<string, string> {
  return {
    [`db/migrations/${tag}_1_ledger.sql`]: `CREATE TABLE IF NOT EXISTS ledger (tag text NOT NULL, at timestamptz NOT NULL DEFAULT now());\nINSERT INTO ledger (tag) VALUES ('${tag}');\n`,
    [`db/migrations/${tag}_2_counters.sql`]: countersTable(120).replace(/counters/g, `counters_${tag}`),
    [`db/backfills/${tag}_3_bump.sql`]: bumpBackfill(40).replace(/counters/g, `counters_${tag}`),
    [`db/indexes/${tag}.sql`]: `CREATE INDEX ledger_${tag}_idx ON ledger (tag);\n`,
  };
}

/** Per member: how often the ledger got `tag`'s row, and counters rows not bumped exactly once. */
export async function onceCheck(url: string, tag: string, schema = "public"): Promise<{ ledger: number; wrong: number; rows: number }> {
  const [r] = await admin<{ ledger: number; wrong: number; rows: number }>(
    url,
    `SELECT (SELECT count(*)::int FROM "${schema}".ledger WHERE tag = $1) AS ledger,
            (SELECT count(*) FILTER (WHERE hits <> 1)::int FROM "${schema}".counters_${tag}) AS wrong,
            (SELECT count(*)::int FROM "${schema}".counters_${tag}) AS rows`,
    [tag],
  );
  return r!;
}

export function writeConfig(dir: string, config: object): void {
  writeFileSync(join(dir, "pgkeel.config.json"), JSON.stringify(config, null, 2));
}

/** `n` new databases on the test server, made at once from template0; their URLs. */
export async function fleetDatabases(prefix: string, n: number): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}_${process.pid}_${i}`);
  for (const name of names) await admin(serverUrl(), `DROP DATABASE IF EXISTS "${name}"`);
  // A few at a time: CREATE DATABASE takes a lock on its template.
  for (let i = 0; i < names.length; i += 6) await Promise.all(names.slice(i, i + 6).map((name) => admin(serverUrl(), `CREATE DATABASE "${name}"`)));
  return names.map((name) => withDatabase(serverUrl(), name));
}

/**
 * Samples pgkeel's connections on the test server by host until `stop()`:
 * the most seen at once with application_name `pgkeel:...` on `databases`.
 */
export function sampleConnections(databases: string[]): { stop(): Promise<{ peak: number; samples: number }> } {
  let done = false;
  let peak = 0;
  let samples = 0;
  const names = databases.map((u) => new URL(u).pathname.slice(1));
  const loop = (async () => {
    while (!done) {
      const [r] = await admin<{ n: number }>(
        withDatabase(serverUrl(), "postgres"),
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pgkeel:%' AND datname = ANY($1)",
        [names],
      );
      peak = Math.max(peak, r!.n);
      samples++;
    }
  })();
  return {
    async stop() {
      done = true;
      await loop;
      return { peak, samples };
    },
  };
}

/** The NDJSON events of a `--json` fleet run. */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
