import type { Backfill } from "./declared.js";
import { inspectKey, type KeyInfo } from "./keyset.js";
import type { PhaseContext } from "../context.js";
import { noteStop } from "../stop.js";
import type { PlannedStatement } from "../migrate/phase.js";
import { readCheckpoint, runBackfill } from "./run.js";
import type { BatchGate, WorkerState } from "./control.js";
import { UsageError } from "../../errors.js";

export type BackfillState = "done" | "partial" | "pending";

export interface BackfillStatus {
  readonly name: string;
  readonly state: BackfillState;
  /** Keys covered by committed batches. */
  readonly rows: number;
  readonly table: string;
  readonly file: string;
  /** Set with `pgkeel backfill --pause NAME`: every worker holds before its next batch. */
  readonly paused: boolean;
  /** Key ranges: how many, and how many are done. */
  readonly ranges: { readonly total: number; readonly done: number };
  /** The workers working it now, in every process. */
  readonly workers: readonly BackfillWorker[];
  /** Rows per second over all workers (0 when none works). */
  readonly rowsPerSecond: number;
  /** Why the backfill is held back, when it is (paused, or a health signal's throttle). */
  readonly throttle: string | null;
  /** Seconds left at the current rate, when it is working. */
  readonly etaSeconds: number | null;
}

export interface BackfillWorker {
  readonly worker: string;
  readonly state: WorkerState;
  readonly reason: string | null;
  readonly range: number | null;
  readonly rowsPerSecond: number;
}

/** A worker that said nothing for this long is gone (its process died or ended). */
const workerSeenSeconds = 10;

export interface BackfillResult {
  readonly done: readonly string[];
  /** Finished by another runner while this one waited. */
  readonly skipped: readonly string[];
}

/** Reads only: on a database pgkeel never touched, every backfill is pending. */
export async function backfillStatus(c: PhaseContext, declared: readonly Backfill[]): Promise<BackfillStatus[]> {
  const out: BackfillStatus[] = [];
  const tracked = (await c.stateHas(c.names.backfills)) && (await c.stateHas(c.names.backfillWorkers));
  for (const b of declared) {
    const cp = tracked
      ? await c.gw.executeWithRetry({ name: `status of ${b.name}`, run: (ctx) => readCheckpoint(ctx, c.names, b.name) })
      : { done: false, started: false, rowsDone: 0, paused: false, estimatedRows: null, ranges: { total: 0, done: 0 } };
    const workers = tracked && !cp.done ? await liveWorkers(c, b.name) : [];
    const state: BackfillState = cp.done ? "done" : cp.started ? "partial" : "pending";
    // A paused, throttled or waiting worker's last rate is not its rate now.
    const rowsPerSecond = Math.round(workers.reduce((sum, w) => sum + (w.state === "working" ? w.rowsPerSecond : 0), 0));
    const held = workers.find((w) => w.state === "paused" || w.state === "throttled");
    const left = cp.estimatedRows === null ? null : Math.max(0, cp.estimatedRows - cp.rowsDone);
    out.push({
      name: b.name,
      state,
      rows: cp.rowsDone,
      table: b.table,
      file: b.file,
      paused: cp.paused,
      ranges: cp.ranges,
      workers,
      rowsPerSecond,
      throttle: cp.paused ? "paused by pgkeel backfill --pause" : (held?.reason ?? null),
      etaSeconds: left !== null && rowsPerSecond > 0 ? Math.round(left / rowsPerSecond) : null,
    });
  }
  return out;
}

async function liveWorkers(c: PhaseContext, name: string): Promise<BackfillWorker[]> {
  const rows = await c.gw.query<{ worker: string; state: WorkerState; reason: string | null; range: number | null; rate: number }>(
    `workers of ${name}`,
    `SELECT worker, state, reason, range, rows_per_second::float8 AS rate FROM ${c.names.backfillWorkers}
      WHERE backfill = $1 AND seen_at > now() - make_interval(secs => $2) ORDER BY worker`,
    [name, workerSeenSeconds],
  );
  return rows.map((r) => ({ worker: r.worker, state: r.state, reason: r.reason, range: r.range, rowsPerSecond: Math.round(r.rate) }));
}

/**
 * `pgkeel backfill --pause NAME` / `--resume NAME`: sets the flag every worker of
 * every process reads (about twice a second); a paused worker finishes the batch
 * in flight and holds before the next.
 */
export async function setPaused(c: PhaseContext, declared: readonly Backfill[], name: string, paused: boolean): Promise<void> {
  if (!declared.some((b) => b.name === name)) {
    const known = declared.map((b) => b.name);
    throw new UsageError(`no backfill named "${name}" (${known.length ? `known: ${known.join(", ")}` : "there are no backfill files"})`);
  }
  await c.ready();
  await c.gw.query(
    `${paused ? "pause" : "resume"} ${name}`,
    `INSERT INTO ${c.names.backfills} (name, paused) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused`,
    [name, paused],
  );
}

/** The backfills `run` would work on, for `plan`. */
export function planBackfills(declared: readonly Backfill[], status: readonly BackfillStatus[]): PlannedStatement[] {
  return status
    .filter((b) => b.state !== "done")
    .map((b) => {
      const d = declared.find((x) => x.name === b.name)!;
      return {
        migration: `backfill ${b.name} (${b.state}, ${b.rows} rows done)`,
        file: d.file,
        line: d.line,
        kind: d.kind === "sql" ? "backfill" : "code backfill",
        transactional: true,
        lock: "ROW EXCLUSIVE, one batch at a time",
        warnings: [],
        sql: d.kind === "sql" ? d.pieces.map((p) => (typeof p === "string" ? p : `:${p.param}`)).join("") : "run(tx, range)",
      };
    });
}

/**
 * Runs unfinished backfills in name order. Every key is checked before the
 * first batch of any; each backfill is worked by `workers` workers here and by
 * any other runner's at once, each on key ranges it claims; a runner returns
 * once every range is done.
 */
export async function backfill(
  c: PhaseContext,
  declared: readonly Backfill[],
  /** Called as each backfill is found done (by this runner or another): `run` applies the migrations that wait on it. */
  onDone?: (name: string) => Promise<void>,
  opts: { readonly workers?: number; readonly gate?: BatchGate } = {},
): Promise<BackfillResult> {
  const workers = opts.workers ?? c.workers ?? 1;
  await c.ready();
  const status = await backfillStatus(c, declared);
  const todo = declared.filter((b) => status.find((s) => s.name === b.name)?.state !== "done");
  const keys = new Map<string, KeyInfo>();
  for (const b of todo) keys.set(b.name, await inspectKey(c.gw, b, c.lockTimeout));
  c.emit({ type: "phase", phase: "backfill", pending: todo.length });
  const done: string[] = [];
  const skipped: string[] = [];
  await noteStop("backfill", todo.map((b) => b.name), () => [...done, ...skipped], async () => {
    for (const b of todo) {
      await c.gw.query(`register ${b.name}`, `INSERT INTO ${c.names.backfills} (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, [b.name]);
      const t = performance.now();
      const r = await runBackfill(b, keys.get(b.name)!, c, workers, opts.gate);
      (r.worked ? done : skipped).push(b.name);
      c.emit({ type: "backfill-done", name: b.name, rows: r.rows, ms: Math.round(performance.now() - t), by: r.worked ? "this-run" : "another-runner" });
      await onDone?.(b.name);
    }
  });
  return { done, skipped };
}
