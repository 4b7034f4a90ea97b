import type { Driver, Session, StatementResult } from "../db/driver.js";
import { backoffMs, defaultRetryPolicy, type RetryPolicy } from "./backoff.js";
import { classify, isRetryable, type Classified } from "./classify.js";
import { DatabaseError, LoginError, RetriesExhaustedError, StoppedError, UnknownOutcomeError } from "../errors.js";

/** What a unit may do with its connection. */
export interface UnitContext {
  /** Runs SQL text; several statements are allowed without params. One result per statement. */
  query(text: string, params?: readonly unknown[]): Promise<StatementResult[]>;
  /** The rows of the last statement of `text`. */
  rows<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Facts about the connection this attempt runs on (for pooler and TLS detection). */
  readonly connection: { readonly announcedPid: number | undefined; readonly tls: boolean };
}

/** How a unit whose connection died mid-statement actually ended, read back from the database. */
export type Resolution<T> =
  | { readonly outcome: "committed"; readonly value: T }
  | { readonly outcome: "not-committed" }
  | { readonly outcome: "unknown"; readonly detail: string };

/**
 * Something that must succeed or fail whole: a migration's transaction, one
 * statement of a non-transactional migration, one index build, one backfill batch.
 */
export interface Unit<T> {
  /** Names the unit in retry reports and errors. */
  readonly name: string;
  run(ctx: UnitContext): Promise<T>;
  /**
   * Called on a fresh connection before a retry when the connection was lost while
   * one of the unit's statements was in flight (so its COMMIT may have happened).
   * Without it, such a unit is simply run again: leave it out only for units that
   * are safe to repeat.
   */
  resolve?(ctx: UnitContext): Promise<Resolution<T>>;
  /** Runs even after a stop was asked for: releasing a claim, cleaning up. */
  readonly whileStopping?: boolean;
}

export type GatewayEvent =
  | {
      readonly type: "retry";
      readonly unit: string;
      readonly attempt: number;
      readonly kind: Classified["kind"];
      readonly reason: string;
      readonly waitMs: number;
    }
  | { readonly type: "resolved"; readonly unit: string; readonly outcome: Resolution<unknown>["outcome"] };

export interface GatewayOptions {
  readonly retry?: Partial<RetryPolicy>;
  readonly onEvent?: (event: GatewayEvent) => void;
  /** Replaceable for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * A graceful stop (SIGINT / SIGTERM): once aborted, no new unit starts and a unit
   * waiting to retry gives up, unless its outcome must first be read back. The unit
   * in flight finishes. The abort reason names the signal.
   */
  readonly stop?: AbortSignal;
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The one path from pgkeel (and from applications that want the same resilience)
 * to the database. It classifies every failure (SPEC section 4), throws the whole
 * pool away when a connection is lost, backs off with jitter, and asks a unit to
 * read its outcome back when the connection died with a statement in flight.
 *
 * ```ts
 * const gw = new Gateway(pgDriver(url, defaultTuning), { onEvent: console.error });
 * const rows = await gw.executeWithRetry({
 *   name: "count leads",
 *   run: (db) => db.rows("SELECT count(*) FROM leads"),
 * });
 * ```
 */
export class Gateway {
  readonly policy: RetryPolicy;
  private readonly onEvent: (event: GatewayEvent) => void;
  private readonly sleep: (ms: number) => Promise<void>;
  private closed = false;
  private readonly stop: AbortSignal | undefined;

  constructor(
    readonly driver: Driver,
    options: GatewayOptions = {},
  ) {
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    this.onEvent = options.onEvent ?? (() => {});
    this.sleep = options.sleep ?? wait;
    this.stop = options.stop;
  }

  /** Runs `unit` until it succeeds, fails for good, or the retry budget is spent. */
  async executeWithRetry<T>(unit: Unit<T>): Promise<T> {
    let mustResolve = false;
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      // A late retry (a claim heartbeat, say) must not reopen a pool after close().
      if (this.closed) throw new Error(`${unit.name}: the gateway is closed`);
      // The one place a graceful stop takes effect: new units, and retries whose outcome is known.
      if (this.stop?.aborted && !unit.whileStopping && (attempt === 1 || !mustResolve)) throw new StoppedError(String(this.stop.reason));
      let session: Session | undefined;
      let inFlight = false;
      try {
        session = await this.driver.acquire();
        const ctx = this.context(session, attempt, (v) => (inFlight = v));
        if (mustResolve && unit.resolve) {
          const resolution = await unit.resolve(ctx);
          this.onEvent({ type: "resolved", unit: unit.name, outcome: resolution.outcome });
          if (resolution.outcome === "committed") {
            session.release(false);
            return resolution.value;
          }
          if (resolution.outcome === "unknown") throw new UnknownOutcomeError(`${unit.name}: ${resolution.detail}`);
          mustResolve = false;
        }
        const value = await unit.run(ctx);
        session.release(false);
        return value;
      } catch (err) {
        if (err instanceof UnknownOutcomeError) {
          session?.release(false);
          throw err;
        }
        const failure = classify(err);
        await this.cleanUp(session, failure);
        if (failure.kind === "connection" && inFlight) mustResolve = true;
        if (!isRetryable(failure.kind)) throw this.final(unit, err, failure);
        if (attempt >= this.policy.maxAttempts) {
          throw new RetriesExhaustedError(unit.name, attempt, failure.whenExhausted ? `${failure.reason}; ${failure.whenExhausted}` : failure.reason, performance.now() - started);
        }
        const waitMs = backoffMs(this.policy, attempt);
        this.onEvent({ type: "retry", unit: unit.name, attempt, kind: failure.kind, reason: failure.reason, waitMs });
        await this.pause(waitMs);
      }
    }
  }

  /** One idempotent read or write, retried as its own unit. */
  query<R = Record<string, unknown>>(name: string, text: string, params?: readonly unknown[], opts: { whileStopping?: boolean } = {}): Promise<R[]> {
    return this.executeWithRetry({ name, run: (db) => db.rows<R>(text, params), whileStopping: opts.whileStopping });
  }

  /** Waits between attempts; a stop cuts the wait short (the next attempt then decides). */
  private pause(ms: number): Promise<void> {
    const stop = this.stop;
    if (!stop) return this.sleep(ms);
    return new Promise<void>((resolve) => {
      const done = () => {
        stop.removeEventListener("abort", done);
        resolve();
      };
      stop.addEventListener("abort", done, { once: true });
      void this.sleep(ms).then(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.driver.close();
  }

  private context(session: Session, attempt: number, setInFlight: (v: boolean) => void): UnitContext {
    const query = async (text: string, params?: readonly unknown[]) => {
      setInFlight(true);
      const results = await session.query(text, params);
      setInFlight(false);
      return results;
    };
    return {
      attempt,
      connection: { announcedPid: session.announcedPid, tls: session.tls },
      query,
      async rows<R>(text: string, params?: readonly unknown[]) {
        const results = await query(text, params);
        return (results[results.length - 1]?.rows ?? []) as R[];
      },
    };
  }

  /** Leaves no open transaction behind, and no pool that may hold dead sockets. */
  private async cleanUp(session: Session | undefined, failure: Classified): Promise<void> {
    // After a failover every pooled connection may lead to the old, now read-only, server.
    if (failure.kind === "connection" || failure.kind === "failover") {
      session?.release(true);
      if (!this.closed) await this.driver.discard();
      return;
    }
    if (!session) return;
    try {
      await session.query("ROLLBACK");
      session.release(false);
    } catch {
      session.release(true);
    }
  }

  private final(unit: Unit<unknown>, err: unknown, failure: Classified): Error {
    if (failure.kind === "login") return new LoginError(failure.reason, failure.sqlstate);
    if (err instanceof Error && !("code" in err) && !(err as { severity?: string }).severity) return err;
    const e = err as { message?: string; position?: string; detail?: string; hint?: string; completedStatements?: number };
    return new DatabaseError(failure.sqlstate, e.message ?? String(err), {
      position: e.position ? Number(e.position) : undefined,
      detail: e.detail,
      hint: e.hint,
      unit: unit.name,
      completed: e.completedStatements,
    });
  }
}
