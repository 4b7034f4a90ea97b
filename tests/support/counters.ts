import { admin } from "./db.js";

/**
 * A table whose rows count how often a backfill touched them, and the backfill:
 * a key range applied twice, or skipped, shows as a row whose hits are not 1.
 */
export const countersTable = (rows: number): string =>
  `CREATE TABLE counters (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0);
   INSERT INTO counters (id) SELECT g FROM generate_series(1, ${rows}) g`;

export const bumpBackfill = (batch: number): string =>
  `-- pgkeel:backfill table=counters key=id batch=${batch} target=0\nUPDATE counters SET hits = hits + 1 WHERE id BETWEEN :from AND :to;\n`;

/** Rows in `counters`, and how many were not touched exactly once. */
export async function countersCheck(url: string): Promise<{ n: number; wrong: number }> {
  return (await admin<{ n: number; wrong: number }>(url, "SELECT count(*)::int AS n, count(*) FILTER (WHERE hits <> 1)::int AS wrong FROM counters"))[0]!;
}
