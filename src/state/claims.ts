import type { Gateway } from "../gateway/gateway.js";
import type { StateNames } from "./schema.js";

/**
 * Expiring claims on a piece of work (a non-transactional migration, an index
 * build, a backfill), kept in a table instead of a session-level advisory lock so
 * they work behind a transaction-mode pooler. The holder renews its claim while it
 * works; a runner that dies stops renewing, and its claim lapses after `ttlSeconds`.
 */
export class Claims {
  constructor(
    private readonly gw: Gateway,
    private readonly names: StateNames,
    readonly owner: string,
    readonly ttlSeconds: number,
  ) {}

  /** Takes the claim if it is free, lapsed, or already ours. */
  async tryClaim(key: string, renewing = false): Promise<boolean> {
    const rows = await this.gw.query(
      `claim ${key}`,
      `INSERT INTO ${this.names.claims} AS c (key, owner, expires_at)
       VALUES ($1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
        WHERE c.expires_at < now() OR c.owner = EXCLUDED.owner
       RETURNING owner`,
      [key, this.owner, this.ttlSeconds],
      // Renewal goes on while stopping: the unit in flight still holds the claim.
      { whileStopping: renewing },
    );
    return rows.length === 1;
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

  async release(key: string): Promise<void> {
    // Also while stopping: a stopped runner leaves no claim for others to wait out.
    await this.gw.query(`release ${key}`, `DELETE FROM ${this.names.claims} WHERE key = $1 AND owner = $2`, [key, this.owner], { whileStopping: true });
  }

  /**
   * Runs `work` holding the claim on `key`, renewing it every third of its lifetime.
   * While another runner holds it, waits; returns "done" without running `work` as
   * soon as `isDone()` says another runner finished it.
   */
  async withClaim<T>(
    key: string,
    isDone: () => Promise<boolean>,
    work: () => Promise<T>,
    onWait: (holder: string) => void,
  ): Promise<{ ran: true; value: T } | { ran: false }> {
    let announced = false;
    for (;;) {
      if (await isDone()) return { ran: false };
      if (await this.tryClaim(key)) break;
      if (!announced) {
        onWait((await this.holder(key)) ?? "another runner");
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
    const renew = setInterval(() => {
      void this.tryClaim(key, true).catch(() => {});
    }, (this.ttlSeconds * 1000) / 3);
    try {
      return { ran: true, value: await work() };
    } finally {
      clearInterval(renew);
      await this.release(key).catch(() => {});
    }
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
