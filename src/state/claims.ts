import { ClaimLostError, DatabaseError } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import { raiseIf } from "./guard.js";
import { quoteLiteral } from "./quote.js";
import type { StateNames } from "./schema.js";

/** SQLSTATE of a fence that found its claim taken over. */
export const claimLost = "PGK03";

/**
 * A claim this runner holds. `generation` is its fencing token: every takeover
 * draws a new one from a sequence, so (key, owner, generation) names this
 * holding and no later one.
 */
export interface Claim {
  readonly key: string;
  readonly owner: string;
  readonly generation: string;
  /** True once the heartbeat found another runner holding the key. */
  readonly lost: boolean;
  /** Throws ClaimLostError once the claim is known lost: call it before sending work. */
  check(): void;
  /**
   * A statement that aborts its transaction with SQLSTATE PGK03 unless this
   * claim is still held. Put it in the transaction that marks work started, so
   * the mark and the proof of holding commit together or not at all.
   */
  fence(): string;
  /** The SQL condition that holds when this claim is no longer held (fence() raises on it). */
  taken(): string;
}

/**
 * Expiring claims on a piece of work (a non-transactional migration, an index
 * build, a backfill), kept in a table instead of a session-level advisory lock so
 * they work behind a transaction-mode pooler. The holder renews its claim while it
 * works; a runner that dies stops renewing, and its claim lapses after `ttlSeconds`.
 * A runner that stalls past that and comes back finds its generation gone: its
 * heartbeat and its fences fail, and it stops.
 */
export class Claims {
  constructor(
    private readonly gw: Gateway,
    private readonly names: StateNames,
    readonly owner: string,
    readonly ttlSeconds: number,
    /** The application_name of this runner's connections: how others find its statements in pg_stat_activity. */
    readonly session = "pgkeel",
  ) {}

  /** Takes the claim if it is free or lapsed (a new generation), or returns ours if we hold it. */
  async tryClaim(key: string): Promise<string | undefined> {
    const [row] = await this.gw.query<{ generation: string }>(
      `claim ${key}`,
      `INSERT INTO ${this.names.claims} AS c (key, owner, expires_at, generation)
       VALUES ($1, $2, now() + make_interval(secs => $3), nextval(${quoteLiteral(this.names.claimGenerations)}))
       ON CONFLICT (key) DO UPDATE
         SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
             generation = CASE WHEN c.owner = EXCLUDED.owner THEN c.generation ELSE EXCLUDED.generation END
        WHERE c.expires_at < now() OR c.owner = EXCLUDED.owner
       RETURNING generation::text`,
      [key, this.owner, this.ttlSeconds],
    );
    return row?.generation;
  }

  /** The current live holder, if any. */
  async holder(key: string): Promise<string | undefined> {
    const [row] = await this.gw.query<{ owner: string }>(
      `read claim ${key}`,
      `SELECT owner FROM ${this.names.claims} WHERE key = $1 AND expires_at >= now()`,
      [key],
    );
    return row?.owner;
  }

  /** Extends the claim; false when this generation no longer holds it. */
  async renew(key: string, generation: string): Promise<boolean> {
    const rows = await this.gw.query(
      `renew claim ${key}`,
      `UPDATE ${this.names.claims} SET expires_at = now() + make_interval(secs => $4)
        WHERE key = $1 AND owner = $2 AND generation = $3::bigint RETURNING 1`,
      [key, this.owner, generation, this.ttlSeconds],
      // Renewal goes on while stopping: the unit in flight still holds the claim.
      { whileStopping: true },
    );
    return rows.length === 1;
  }

  async release(key: string, generation: string): Promise<void> {
    await this.gw.query(
      `release ${key}`,
      `DELETE FROM ${this.names.claims} WHERE key = $1 AND owner = $2 AND generation = $3::bigint`,
      [key, this.owner, generation],
      // Also while stopping: a stopped runner leaves no claim for others to wait out.
      { whileStopping: true },
    );
  }

  /**
   * Runs `work` holding the claim on `key`, renewing it every third of its lifetime.
   * While another runner holds it, waits; returns "done" without running `work` as
   * soon as `isDone()` says another runner finished it. When the heartbeat finds the
   * claim taken over, or a fence of `work` fails, throws ClaimLostError (exit 3).
   */
  async withClaim<T>(
    key: string,
    isDone: () => Promise<boolean>,
    work: (claim: Claim) => Promise<T>,
    onWait: (holder: string) => void,
  ): Promise<{ ran: true; value: T } | { ran: false }> {
    let announced = false;
    let generation: string | undefined;
    for (;;) {
      if (await isDone()) return { ran: false };
      generation = await this.tryClaim(key);
      if (generation !== undefined) break;
      if (!announced) {
        onWait((await this.holder(key)) ?? "another runner");
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
    const { claim, stop } = this.hold(key, generation);
    try {
      return { ran: true, value: await work(claim) };
    } catch (e) {
      if (claim.lost || (e instanceof DatabaseError && e.sqlstate === claimLost) || e instanceof ClaimLostError) {
        throw new ClaimLostError(key, await this.holder(key).catch(() => undefined));
      }
      throw e;
    } finally {
      stop();
      await this.release(key, claim.generation).catch(() => {});
    }
  }

  /**
   * A claim just taken at `generation`, kept alive by a heartbeat every third of its
   * lifetime until `stop()`. A renewal that finds another generation marks it lost.
   */
  hold(key: string, generation: string): { claim: Claim; stop: () => void } {
    const claim = this.handle(key, generation);
    let renewing = false;
    const heartbeat = setInterval(() => {
      if (renewing) return;
      renewing = true;
      // A failed renewal (connection trouble) is not a loss: the fences decide. A renewal
      // that finds another generation is: stop at once.
      void this.renew(key, claim.generation)
        .then((held) => {
          if (!held) {
            claim.markLost();
            clearInterval(heartbeat);
          }
        })
        .catch(() => {})
        .finally(() => (renewing = false));
    }, (this.ttlSeconds * 1000) / 3);
    return { claim, stop: () => clearInterval(heartbeat) };
  }

  /** The same claims table under another owner name: one per worker of a process, so they never share a claim. */
  as(owner: string): Claims {
    return new Claims(this.gw, this.names, owner, this.ttlSeconds, this.session);
  }

  /**
   * The fence of this runner's claim on `key` at `generation`: a statement that
   * aborts its transaction with PGK03 unless that claim is still held. (A dry run
   * shows it with a placeholder generation.)
   */
  fenceSql(key: string, generation: string): string {
    return raiseIf(`${key}:${generation}`, this.takenSql(key, generation), claimLost, `pgkeel: the claim on ${key} was taken over by another runner`);
  }

  private takenSql(key: string, generation: string): string {
    return `NOT EXISTS (SELECT 1 FROM ${this.names.claims} WHERE key = ${quoteLiteral(key)} AND owner = ${quoteLiteral(this.owner)} AND generation = ${generation})`;
  }

  private handle(key: string, generation: string): Claim & { markLost(): void } {
    let lost = false;
    return {
      key,
      owner: this.owner,
      generation,
      get lost() {
        return lost;
      },
      markLost: () => (lost = true),
      check: () => {
        if (lost) throw new ClaimLostError(key, undefined);
      },
      fence: () => this.fenceSql(key, generation),
      taken: () => this.takenSql(key, generation),
    };
  }
}

/**
 * Lapses every claim at once. Only for a database that one process can have open
 * at a time (the embedded one, behind its directory lock): a claim found there
 * was left by a runner that is gone.
 */
export async function lapseClaims(gw: Gateway, names: StateNames): Promise<void> {
  await gw.query("lapse claims of runners that are gone", `UPDATE ${names.claims} SET expires_at = '-infinity' WHERE expires_at >= now()`);
}
