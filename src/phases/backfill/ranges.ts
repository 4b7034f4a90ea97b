import type { Gateway, UnitContext } from "../../gateway/gateway.js";
import { quoteLiteral } from "../../state/quote.js";
import { xactLock, type StateNames } from "../../state/schema.js";
import type { Backfill } from "./declared.js";
import type { KeyInfo } from "./keyset.js";
import { readUnlessLocked } from "./table-read.js";

/** One key range of a backfill: keys in (lo, hi], NULL meaning unbounded, walked from `position`. */
export interface KeyRange {
  readonly range: number;
  readonly lo: string | null;
  readonly hi: string | null;
  readonly position: string | null;
  readonly done: boolean;
}

/** At most this many ranges: enough for many workers, few enough that claiming stays cheap. */
const maxRanges = 128;

/**
 * How many ranges a backfill gets: about one per ten batches (at least 1,000
 * keys each), so a range is worth a claim and a takeover loses little.
 */
export function rangeCount(estimatedRows: number, batch: number): number {
  return Math.max(1, Math.min(maxRanges, Math.ceil(estimatedRows / Math.max(10 * batch, 1000))));
}

/**
 * Split points of the key space, found without scanning the table. First choice:
 * the key's histogram from pg_stats, which ANALYZE keeps (equal-count buckets, so
 * ranges hold about as many rows each, whatever the key's distribution). Without
 * statistics: for numbers and timestamps, the smallest and largest key (two probes
 * of the key's index) cut into equal widths; for uuids, equal slices of the uuid
 * space (random uuids spread evenly); text without statistics gets one range.
 * Stale statistics only unbalance ranges: the first and last are unbounded, so
 * every key falls in exactly one.
 */
export async function splitPoints(gw: Gateway, key: KeyInfo, count: number, lockTimeout: string): Promise<string[]> {
  if (count < 2) return [];
  const [hist] = await gw.query<{ bounds: string[] | null }>(
    `read the key histogram of ${key.rel}`,
    `SELECT (SELECT array_agg(b::text ORDER BY i) FROM unnest(s.histogram_bounds::text::${key.type}[]) WITH ORDINALITY AS u(b, i)) AS bounds
       FROM pg_stats s WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3
      ORDER BY s.inherited DESC LIMIT 1`,
    [key.names.schema, key.names.table, key.names.column],
  );
  const bounds = hist?.bounds ?? [];
  if (bounds.length >= 3) {
    // Interior bounds only: the outer ranges stay unbounded.
    const inner = bounds.slice(1, -1);
    const picks = Array.from({ length: Math.min(count - 1, inner.length) }, (_, i) => inner[Math.floor(((i + 1) * inner.length) / Math.min(count, inner.length + 1))]!);
    return [...new Set(picks.filter((p) => p !== undefined))];
  }
  const step = key.typname.startsWith("timestamp")
    ? `lo + (hi - lo) * (i::float8 / ${count})`
    : `round(lo::numeric + (hi::numeric - lo::numeric) * i / ${count}${key.typname === "numeric" ? ", 6" : ""})::${key.type}`;
  if (["int2", "int4", "int8", "numeric", "timestamp", "timestamptz"].includes(key.typname)) {
    // Behind a lock on the table: one range (the batches wait their turn).
    const rows = await readUnlessLocked<{ p: string }>(
      gw,
      `split the key space of ${key.rel}`,
      lockTimeout,
      `WITH e AS (SELECT (SELECT ${key.column} FROM ${key.rel} ORDER BY ${key.column} LIMIT 1) AS lo,
                         (SELECT ${key.column} FROM ${key.rel} ORDER BY ${key.column} DESC LIMIT 1) AS hi),
            s AS (SELECT DISTINCT ${step} AS v FROM e, generate_series(1, ${count} - 1) AS i WHERE lo < hi)
       SELECT v::text AS p FROM s ORDER BY v`,
    );
    return (rows ?? []).map((r) => r.p);
  }
  if (key.typname === "uuid") {
    return Array.from({ length: count - 1 }, (_, i) => `${Math.floor(((i + 1) * 0x100000000) / count).toString(16).padStart(8, "0")}-0000-0000-0000-000000000000`);
  }
  return [];
}

/**
 * Splits the backfill into ranges once, whoever comes first: the insert runs
 * under a lock and only while the backfill has none. A checkpoint left by a
 * pgkeel that walked backfills as one range becomes a finished first range, and
 * the split starts after it.
 */
export async function ensureRanges(gw: Gateway, names: StateNames, b: Backfill, key: KeyInfo, workers: number, lockTimeout: string): Promise<void> {
  const [has] = await gw.query<{ n: number; position: string | null; rows_done: string }>(
    `ranges of ${b.name}`,
    `SELECT (SELECT count(*)::int FROM ${names.backfillRanges} WHERE backfill = $1) AS n, position, rows_done FROM ${names.backfills} WHERE name = $1`,
    [b.name],
  );
  if (has && has.n > 0) return;
  const legacy = has?.position ?? null;
  const count = Math.max(rangeCount(key.estimatedRows, b.batch), Math.min(workers, Math.ceil(key.estimatedRows / b.batch)));
  const points = await splitPoints(gw, key, count, lockTimeout);
  const los: (string | null)[] = [null, ...points];
  const his: (string | null)[] = [...points, null];
  const old = legacy === null ? "NULL" : `${quoteLiteral(legacy)}::${key.type}`;
  await gw.query(
    `split ${b.name} into ranges`,
    [
      "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
      xactLock(names.schema, `backfill-split:${b.name}`),
      `INSERT INTO ${names.backfillRanges} (backfill, range, lo, hi, position, rows_done, done)
       SELECT ${quoteLiteral(b.name)}, r, lo, hi, lo, 0, false
         FROM (SELECT r, hi, CASE WHEN ${old} IS NOT NULL AND (s.lo IS NULL OR s.lo::${key.type} < ${old}) THEN ${old}::text ELSE s.lo END AS lo
                 FROM unnest(${textArray(los)}, ${textArray(his)}) WITH ORDINALITY AS s(lo, hi, r)) AS cut
        WHERE (lo IS NULL OR hi IS NULL OR lo::${key.type} < hi::${key.type})
          AND NOT EXISTS (SELECT 1 FROM ${names.backfillRanges} WHERE backfill = ${quoteLiteral(b.name)})`,
      // Range 0 holds what an older pgkeel's single checkpoint covered.
      ...(legacy === null
        ? []
        : [
            `INSERT INTO ${names.backfillRanges} (backfill, range, lo, hi, position, rows_done, done)
             VALUES (${quoteLiteral(b.name)}, 0, NULL, ${quoteLiteral(legacy)}, ${quoteLiteral(legacy)}, ${Number(has?.rows_done ?? 0)}, true)
             ON CONFLICT DO NOTHING`,
          ]),
      `UPDATE ${names.backfills} SET estimated_rows = ${Math.round(key.estimatedRows)} WHERE name = ${quoteLiteral(b.name)}`,
    ].join(";\n"),
  );
}

function textArray(values: readonly (string | null)[]): string {
  return `ARRAY[${values.map((v) => (v === null ? "NULL" : quoteLiteral(v))).join(", ")}]::text[]`;
}

/** The claim key of one range. */
export const rangeClaimKey = (backfill: string, range: number) => `backfill-range:${backfill}:${range}`;

/** Unfinished ranges that no live claim holds, in order; `held` counts the unfinished ones others hold. */
export async function openRanges(db: Pick<UnitContext, "rows">, names: StateNames, backfill: string): Promise<{ free: KeyRange[]; held: number }> {
  const rows = await db.rows<KeyRange & { claimed: boolean }>(
    `SELECT r.range, r.lo, r.hi, r.position, r.done,
            EXISTS (SELECT 1 FROM ${names.claims} c WHERE c.key = 'backfill-range:' || r.backfill || ':' || r.range AND c.expires_at >= now()) AS claimed
       FROM ${names.backfillRanges} r WHERE r.backfill = $1 AND NOT r.done ORDER BY r.range`,
    [backfill],
  );
  return { free: rows.filter((r) => !r.claimed), held: rows.filter((r) => r.claimed).length };
}

/** One range as it is now. */
export async function readRange(db: Pick<UnitContext, "rows">, names: StateNames, backfill: string, range: number): Promise<KeyRange> {
  const [row] = await db.rows<KeyRange>(`SELECT range, lo, hi, position, done FROM ${names.backfillRanges} WHERE backfill = $1 AND range = $2`, [backfill, range]);
  return row!;
}
