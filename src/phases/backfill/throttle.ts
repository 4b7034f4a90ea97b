import { readHealth, type HealthReading } from "../../catalog/health.js";
import { StoppedError } from "../../errors.js";
import type { EventSink } from "../../events.js";
import type { PhaseContext } from "../context.js";
import { healthLimits, type HealthLimits } from "./health-config.js";
import { hiddenSignals, judge, type Finding } from "./health-judge.js";

export type ThrottleState = "clear" | "slow" | "paused";

export interface ThrottleOptions {
  /** The backfill's name, for events. */
  readonly name: string;
  /** The table as events name it. */
  readonly table: string;
  readonly limits: HealthLimits;
  /** One reading of the signals (one round trip). */
  readonly read: () => Promise<HealthReading>;
  readonly emit: EventSink;
  /** A graceful stop ends a pause at once. */
  readonly stop?: AbortSignal;
  /** Readings are at most this often (default 1000 ms), however many workers ask. */
  readonly intervalMs?: number;
}

/**
 * Consulted before each batch of one backfill. The signals are read at most once
 * an interval; workers of the backfill in this process share the reading.
 *
 * A signal past half its limit, or past its limit at one reading, slows the
 * backfill: each worker runs at most one batch per reading (a second). Past its limit at two
 * readings in a row, it pauses: no batch until a reading finds every signal at or
 * under its limit. Every change of state is an event naming the signal and its value.
 */
export class Throttle {
  private state: ThrottleState = "clear";
  private reason: Finding | undefined;
  private overInARow = 0;
  private readAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  private warned = false;
  private failing = false;
  private readonly intervalMs: number;

  constructor(private readonly o: ThrottleOptions) {
    this.intervalMs = o.intervalMs ?? 1000;
  }

  /** Whether any signal is on at all: without one, the throttle never reads. */
  private get enabled(): boolean {
    const l = this.o.limits;
    return (l.replicationLagMs !== null || l.replicationLagBytes !== null || l.lockWaiters !== null || l.autovacuum || l.activeSessions !== null);
  }

  /**
   * Waits as long as the backfill is paused, and until the next reading when it is
   * slowed. A graceful stop ends the wait at once with a StoppedError. `say` hears why the caller is held back (null once
   * clear), for a worker's status.
   */
  async beforeBatch(say?: (reason: string | null) => void): Promise<void> {
    if (!this.enabled) return;
    let waited = false;
    for (;;) {
      if (this.o.stop?.aborted) throw new StoppedError(String(this.o.stop.reason));
      await this.refreshIfDue();
      say?.(this.state === "clear" ? null : `${this.state === "paused" ? "paused" : "slowed"}: ${this.reason!.text}`);
      if (this.state === "clear") return;
      if (this.state === "slow" && waited) return;
      await this.untilDue();
      waited = true;
    }
  }

  private refreshIfDue(): Promise<void> {
    if (performance.now() - this.readAt < this.intervalMs) return Promise.resolve();
    this.inFlight ??= this.refresh().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async refresh(): Promise<void> {
    let reading: HealthReading;
    try {
      reading = await this.o.read();
    } catch (e) {
      if (e instanceof StoppedError) throw e;
      // Throttling is a courtesy to the server, not a condition of the backfill: a reading
      // that fails lets batches go on, and the next one is tried an interval later.
      if (!this.failing) this.o.emit({ type: "warning", message: `backfill ${this.o.name}: cannot read the health signals (${(e as Error).message}); continuing unthrottled until they can be read` });
      this.failing = true;
      this.overInARow = 0;
      this.set("clear", undefined);
      return;
    } finally {
      this.readAt = performance.now();
    }
    this.failing = false;
    const hidden = hiddenSignals(reading, this.o.limits);
    if (hidden && !this.warned) {
      this.warned = true;
      this.o.emit({ type: "warning", message: `backfill ${this.o.name}: ${hidden}` });
    }
    const findings = judge(reading, this.o.limits, this.o.table);
    const worst = findings[0];
    this.overInARow = worst?.over ? this.overInARow + 1 : 0;
    this.set(this.overInARow >= 2 ? "paused" : worst ? "slow" : "clear", worst);
  }

  private set(state: ThrottleState, reason: Finding | undefined): void {
    const changed = state !== this.state || reason?.signal !== this.reason?.signal;
    this.state = state;
    this.reason = reason;
    if (!changed) return;
    this.o.emit({
      type: "backfill-throttle",
      name: this.o.name,
      state,
      signal: reason?.signal ?? null,
      value: reason?.value ?? null,
      limit: reason?.limit ?? null,
      reason: reason?.text ?? "health signals clear",
    });
  }

  /** Until the next reading is due, or a stop. */
  private untilDue(): Promise<void> {
    const ms = Math.max(0, this.intervalMs - (performance.now() - this.readAt));
    const stop = this.o.stop;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stop?.addEventListener("abort", done, { once: true });
    });
  }
}

/** The throttle of backfill `name` on `table` (quoted, schema-qualified), with the config's limits. */
export function backfillThrottle(c: PhaseContext, name: string, table: string): Throttle {
  const limits = healthLimits(c.health);
  const off = c.gw.driver.kind === "pglite";
  return new Throttle({
    name,
    table,
    limits: off ? { replicationLagMs: null, replicationLagBytes: null, lockWaiters: null, autovacuum: false, activeSessions: null } : limits,
    read: () => c.gw.executeWithRetry({ name: `health of ${name}`, run: (db) => readHealth(db, table) }),
    emit: c.emit,
    stop: c.stop,
  });
}
