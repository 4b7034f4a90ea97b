import type { UnitContext } from "../../gateway/gateway.js";
import type { StateNames } from "../../state/schema.js";
import type { PhaseContext } from "../context.js";
import { BackfillControl, type BatchGate } from "./control.js";
import type { Backfill } from "./declared.js";
import type { KeyInfo } from "./keyset.js";
import { ensureRanges } from "./ranges.js";
import { backfillThrottle } from "./throttle.js";
import { work, type Crew } from "./worker.js";

export { nextSize } from "./worker.js";

export interface Checkpoint {
  /** Rows done over every range. */
  rowsDone: number;
  done: boolean;
  /** Whether any batch has been committed (or an older pgkeel left a position). */
  started: boolean;
  paused: boolean;
  estimatedRows: number | null;
  ranges: { total: number; done: number };
}

export async function readCheckpoint(db: Pick<UnitContext, "rows">, names: StateNames, name: string): Promise<Checkpoint> {
  const [row] = await db.rows<{ position: string | null; rows_done: string; done: boolean; paused: boolean; estimated_rows: string | null; range_rows: string | null; ranges: number; ranges_done: number }>(
    `SELECT b.position, b.rows_done, b.done, b.paused, b.estimated_rows, r.rows AS range_rows, r.n AS ranges, r.done AS ranges_done
       FROM ${names.backfills} b,
            LATERAL (SELECT sum(rows_done)::text AS rows, count(*)::int AS n, count(*) FILTER (WHERE done)::int AS done FROM ${names.backfillRanges} WHERE backfill = b.name) r
      WHERE b.name = $1`,
    [name],
  );
  if (!row) return { rowsDone: 0, done: false, started: false, paused: false, estimatedRows: null, ranges: { total: 0, done: 0 } };
  // Once split, the ranges hold the count (range 0 carries an older pgkeel's checkpoint); a done backfill keeps its total.
  const rowsDone = row.done || row.ranges === 0 ? Number(row.rows_done) : Number(row.range_rows ?? 0);
  return {
    rowsDone,
    done: row.done,
    started: rowsDone > 0 || row.position !== null,
    paused: row.paused,
    estimatedRows: row.estimated_rows === null ? null : Number(row.estimated_rows),
    ranges: { total: row.ranges, done: row.ranges_done },
  };
}

/**
 * Works one backfill with `workers` workers in this process, beside any number
 * of workers in other processes: the key space is split into ranges once (from
 * the key's index and statistics), each worker claims an open range, walks it by
 * keyset in fenced batches with its own checkpoint, and takes another until none
 * is open. Returns once every range is done, by whoever, with the rows done
 * overall and whether this process committed any batch. Progress and ETA count
 * every worker of every process (each batch reads the overall total back).
 */
export async function runBackfill(b: Backfill, key: KeyInfo, c: PhaseContext, workers: number, gate?: BatchGate): Promise<{ rows: number; worked: boolean }> {
  await ensureRanges(c.gw, c.names, b, key, workers, c.lockTimeout);
  const first = await c.gw.executeWithRetry({ name: `read checkpoint of ${b.name}`, run: (ctx) => readCheckpoint(ctx, c.names, b.name) });
  c.emit({ type: "backfill-start", name: b.name, table: b.table, rowsDone: first.rowsDone, estimatedRows: key.estimatedRows, workers });
  // Every worker of this process consults one health throttle before each batch (one reading a second).
  const control = new BackfillControl(c, b.name, gate ?? backfillThrottle(c, b.name, key.rel));
  await control.start();
  const started = performance.now();
  let worked = false;
  let waited = false;
  let total = first.rowsDone;
  const crew: Crew = {
    b,
    key,
    c,
    control,
    failed: false,
    implicit: false,
    onBatch: (batch, outcome, ms, size) => {
      worked = true;
      total = outcome?.total ?? total + batch.n;
      const rate = (total - first.rowsDone) / Math.max((performance.now() - started) / 1000, 0.001);
      c.emit({
        type: "backfill-progress",
        name: b.name,
        rowsDone: total,
        estimatedRows: key.estimatedRows,
        rowsPerSecond: Math.round(rate),
        etaSeconds: rate > 0 ? Math.max(0, Math.round((key.estimatedRows - total) / rate)) : null,
        batchSize: size,
        lastBatchMs: Math.round(ms),
      });
    },
    onWait: () => {
      if (waited) return;
      waited = true;
      c.emit({ type: "waiting", what: `backfill ${b.name} (every open key range)`, holder: "other workers" });
    },
  };
  try {
    const results = await Promise.allSettled(
      Array.from({ length: workers }, (_, i) =>
        work(crew, c.claims.as(`${c.claims.owner}/${i + 1}`), i).catch((e: unknown) => {
          crew.failed = true;
          throw e;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    await control.stop();
  }
  const [row] = await c.gw.query<{ rows: string | null }>(
    `finish ${b.name}`,
    `WITH s AS (SELECT coalesce(sum(rows_done), 0) AS rows, coalesce(sum(batches), 0)::int AS batches FROM ${c.names.backfillRanges} WHERE backfill = $1),
          f AS (UPDATE ${c.names.backfills} SET done = true, finished_at = now(), rows_done = s.rows, batches = s.batches
                  FROM s WHERE name = $1 AND NOT done AND NOT EXISTS (SELECT 1 FROM ${c.names.backfillRanges} WHERE backfill = $1 AND NOT done))
     SELECT rows::text FROM s`,
    [b.name],
  );
  return { rows: Number(row?.rows ?? total), worked };
}
