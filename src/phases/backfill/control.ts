import { StoppedError } from "../../errors.js";
import type { PhaseContext } from "../context.js";

/** What a worker is doing, as status shows it. */
export type WorkerState = "working" | "paused" | "throttled" | "waiting";

export interface WorkerReport {
  state: WorkerState;
  /** Why it is paused, throttled or waiting. */
  reason: string | null;
  range: number | null;
  rowsPerSecond: number;
}

/**
 * A check a worker passes before each batch: health throttling hooks in here.
 * It may wait; `say(reason)` names why (null once clear), for status. It may
 * return a factor under 1 for the next batch's size (a slowed backfill).
 */
export interface BatchGate {
  beforeBatch(say: (reason: string | null) => void): Promise<number | void>;
}

/** How often a process reads the pause flag and writes its workers' reports: a pause is honoured within about this plus one batch. */
const tickMs = 500;

/**
 * One process's link to a running backfill's shared state: it reads the pause
 * flag (set from any shell with `pgkeel backfill --pause NAME`) and writes what
 * each of its workers is doing, in one round trip every half second, and holds
 * workers at `gate()` while the backfill is paused.
 */
export class BackfillControl {
  private readonly reports = new Map<string, WorkerReport>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private paused = false;
  private wake: (() => void)[] = [];

  constructor(
    private readonly c: PhaseContext,
    private readonly name: string,
    private readonly throttle?: BatchGate,
  ) {}

  async start(): Promise<void> {
    // A stop (SIGINT / SIGTERM) wakes paused workers, which then end.
    this.c.stop?.addEventListener("abort", () => this.wakeAll(), { once: true });
    await this.tick();
    this.timer = setInterval(() => void this.tick(), tickMs);
  }

  /** Sets what `worker` reports; a change of state is written at once. */
  report(worker: string, r: Partial<WorkerReport>): void {
    const prev = this.reports.get(worker) ?? { state: "working", reason: null, range: null, rowsPerSecond: 0 };
    const next = { ...prev, ...r };
    this.reports.set(worker, next);
    if (next.state !== prev.state || next.reason !== prev.reason) void this.tick();
  }

  /** Before each batch: waits while the backfill is paused (and while the throttle holds it back); the factor for the batch's size. */
  async gate(worker: string): Promise<number> {
    while (this.paused) {
      this.report(worker, { state: "paused", reason: "paused by pgkeel backfill --pause" });
      await new Promise<void>((r) => this.wake.push(r));
      if (this.c.stop?.aborted) throw new StoppedError(String(this.c.stop.reason));
    }
    if (this.c.stop?.aborted) throw new StoppedError(String(this.c.stop.reason));
    const scale = await this.throttle?.beforeBatch((reason) => this.report(worker, reason === null ? { state: "working", reason: null } : { state: "throttled", reason }));
    if (scale === undefined || scale >= 1) this.report(worker, { state: "working", reason: null });
    return typeof scale === "number" ? Math.min(1, Math.max(0, scale)) : 1;
  }

  /** Ends the ticks and removes this process's workers from status. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking?.catch(() => {});
    const names = [...this.reports.keys()];
    this.wakeAll();
    if (!names.length) return;
    await this.c.gw
      .query(`forget workers of ${this.name}`, `DELETE FROM ${this.c.names.backfillWorkers} WHERE backfill = $1 AND worker = ANY ($2::text[])`, [this.name, names], { whileStopping: true })
      .catch(() => {});
  }

  private tick(): Promise<void> {
    // One at a time; a tick asked for meanwhile is served by the next interval.
    if (this.ticking) return this.ticking;
    const entries = [...this.reports.entries()];
    this.ticking = this.c.gw
      .query<{ paused: boolean }>(
        `control of ${this.name}`,
        `WITH w AS (
           INSERT INTO ${this.c.names.backfillWorkers} AS w (backfill, worker, state, reason, range, rows_per_second, seen_at)
           SELECT $1, x.worker, x.state, x.reason, x.range, x.rate, now()
             FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::real[]) AS x(worker, state, reason, range, rate)
           ON CONFLICT (backfill, worker) DO UPDATE SET state = EXCLUDED.state, reason = EXCLUDED.reason, range = EXCLUDED.range,
             rows_per_second = EXCLUDED.rows_per_second, seen_at = EXCLUDED.seen_at)
         SELECT paused FROM ${this.c.names.backfills} WHERE name = $1`,
        [this.name, entries.map((e) => e[0]), entries.map((e) => e[1].state), entries.map((e) => e[1].reason), entries.map((e) => e[1].range), entries.map((e) => e[1].rowsPerSecond)],
      )
      .then(([row]) => {
        const was = this.paused;
        this.paused = row?.paused ?? false;
        if (was !== this.paused) this.c.emit({ type: "backfill-paused", name: this.name, paused: this.paused });
        if (!this.paused) this.wakeAll();
      })
      .catch(() => {})
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private wakeAll(): void {
    const w = this.wake;
    this.wake = [];
    for (const r of w) r();
  }
}
