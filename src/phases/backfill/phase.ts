import type { Backfill } from "./declared.js";
import { inspectKey, type KeyInfo } from "./keyset.js";
import type { PhaseContext } from "../context.js";
import { noteStop } from "../stop.js";
import type { PlannedStatement } from "../migrate/phase.js";
import { readCheckpoint, runBackfill } from "./run.js";

export type BackfillState = "done" | "partial" | "pending";

export interface BackfillStatus {
  readonly name: string;
  readonly state: BackfillState;
  /** Keys covered by committed batches. */
  readonly rows: number;
  readonly table: string;
  readonly file: string;
}

export interface BackfillResult {
  readonly done: readonly string[];
  /** Finished by another runner while this one waited. */
  readonly skipped: readonly string[];
}

/** Reads only: on a database pgkeel never touched, every backfill is pending. */
export async function backfillStatus(c: PhaseContext, declared: readonly Backfill[]): Promise<BackfillStatus[]> {
  const out: BackfillStatus[] = [];
  const tracked = await c.stateHas(c.names.backfills);
  for (const b of declared) {
    const cp = tracked
      ? await c.gw.executeWithRetry({ name: `status of ${b.name}`, run: (ctx) => readCheckpoint(ctx, c.names, b.name) })
      : { done: false, position: null, rowsDone: 0 };
    const state: BackfillState = cp.done ? "done" : cp.position !== null ? "partial" : "pending";
    out.push({ name: b.name, state, rows: cp.rowsDone, table: b.table, file: b.file });
  }
  return out;
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
 * first batch of any; each backfill is worked by one runner at a time (an
 * expiring claim), the others wait and find it done.
 */
export async function backfill(
  c: PhaseContext,
  declared: readonly Backfill[],
  /** Called as each backfill is found done (by this runner or another): `run` applies the migrations that wait on it. */
  onDone?: (name: string) => Promise<void>,
): Promise<BackfillResult> {
  await c.ready();
  const status = await backfillStatus(c, declared);
  const todo = declared.filter((b) => status.find((s) => s.name === b.name)?.state !== "done");
  const keys = new Map<string, KeyInfo>();
  for (const b of todo) keys.set(b.name, await inspectKey(c.gw, b));
  c.emit({ type: "phase", phase: "backfill", pending: todo.length });
  const done: string[] = [];
  const skipped: string[] = [];
  await noteStop("backfill", todo.map((b) => b.name), () => [...done, ...skipped], async () => {
    for (const b of todo) {
      await c.gw.query(`register ${b.name}`, `INSERT INTO ${c.names.backfills} (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, [b.name]);
      const t = performance.now();
      const isDone = async () => (await c.gw.executeWithRetry({ name: `check ${b.name}`, run: (ctx) => readCheckpoint(ctx, c.names, b.name) })).done;
      const r = await c.claims.withClaim(`backfill:${b.name}`, isDone, () => runBackfill(b, keys.get(b.name)!, c), (holder) =>
        c.emit({ type: "waiting", what: `backfill ${b.name}`, holder }),
      );
      const rows = r.ran ? r.value : (await backfillStatus(c, [b]))[0]!.rows;
      (r.ran ? done : skipped).push(b.name);
      c.emit({ type: "backfill-done", name: b.name, rows, ms: Math.round(performance.now() - t), by: r.ran ? "this-run" : "another-runner" });
      await onDone?.(b.name);
    }
  });
  return { done, skipped };
}
