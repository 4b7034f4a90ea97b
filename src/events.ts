import type { GatewayEvent } from "./gateway/gateway.js";

/** Everything a run reports, in order. The CLI prints them; `--json` prints one per line. */
export type KeelEvent =
  | GatewayEvent
  | { readonly type: "target"; readonly display: string; readonly embedded: boolean }
  | { readonly type: "phase"; readonly phase: "migrate" | "indexes" | "backfill"; readonly pending: number }
  | { readonly type: "backfill-start"; readonly name: string; readonly table: string; readonly rowsDone: number; readonly estimatedRows: number; readonly workers: number }
  /** A batch kept timing out (statement_timeout, lock_timeout): it is tried again in pieces of `size`. */
  | { readonly type: "backfill-split"; readonly name: string; readonly from: string; readonly to: string; readonly rows: number; readonly size: number; readonly reason: string }
  /** The backfill was paused or resumed (from any shell): this process's workers hold or go on. */
  | { readonly type: "backfill-paused"; readonly name: string; readonly paused: boolean }
  | {
      readonly type: "backfill-progress";
      readonly name: string;
      /** Keys covered so far, this run and earlier ones, by every worker of every process. */
      readonly rowsDone: number;
      readonly estimatedRows: number;
      readonly rowsPerSecond: number;
      /** Estimated seconds left, from the row estimate and the rate of every worker since this run started. */
      readonly etaSeconds: number | null;
      readonly batchSize: number;
      readonly lastBatchMs: number;
    }
  /**
   * The backfill's health throttle changed state: `slow` (each worker at most one batch a
   * second), `paused` (no batch until the signal clears) or `clear`. `signal` and
   * `value` name what caused it (seconds, bytes or a count; see `reason`).
   */
  | {
      readonly type: "backfill-throttle";
      readonly name: string;
      readonly state: "clear" | "slow" | "paused";
      readonly signal: "replication-lag" | "replication-lag-bytes" | "lock-waiters" | "autovacuum" | "active-sessions" | null;
      readonly value: number | null;
      readonly limit: number | null;
      readonly reason: string;
    }
  | { readonly type: "backfill-done"; readonly name: string; readonly rows: number; readonly ms: number; readonly by: "this-run" | "another-runner" }
  | { readonly type: "migration-start"; readonly name: string; readonly transactional: boolean }
  | { readonly type: "migration-applied"; readonly name: string; readonly ms: number; readonly by: "this-run" | "another-runner" }
  | { readonly type: "statement-applied"; readonly migration: string; readonly index: number; readonly ms: number }
  | { readonly type: "waiting"; readonly what: string; readonly holder: string }
  /** A pending migration held back until a backfill is done (`-- pgkeel:after-backfill`). */
  | { readonly type: "held"; readonly name: string; readonly backfill: string }
  | { readonly type: "index-start"; readonly name: string; readonly table: string; readonly file: string }
  | {
      readonly type: "index-progress";
      readonly name: string;
      /** The build's phase as pg_stat_progress_create_index names it. */
      readonly phase: string;
      readonly blocksDone: number;
      readonly blocksTotal: number;
      readonly elapsedMs: number;
    }
  | {
      readonly type: "index-done";
      readonly name: string;
      readonly ms: number;
      readonly by: "this-run" | "another-runner" | "already-valid";
    }
  | { readonly type: "warning"; readonly message: string }
  /** `wait`: a login attempt failed; the next one follows in `nextInMs`. */
  | { readonly type: "wait-attempt"; readonly attempt: number; readonly cause: string; readonly nextInMs: number };

export type EventSink = (event: KeelEvent) => void;
