import type { Gateway } from "../gateway/gateway.js";
import { fromPgLocksMode, lockConflicts } from "./locks.js";
import type { LockMode } from "./types.js";

/** A session that would hold a statement up right now. */
export interface Blocker {
  readonly pid: number;
  readonly user: string;
  readonly application: string;
  /** pg_stat_activity.state: active, idle in transaction, ... */
  readonly state: string;
  /** Seconds since its transaction began (null outside a transaction). */
  readonly transactionSeconds: number | null;
  /** The lock it holds or waits for on the table; undefined for an old snapshot a concurrent build waits out. */
  readonly mode?: LockMode;
  readonly granted?: boolean;
}

export interface SessionsNow {
  /** By table oid: sessions holding or queued for a lock on it. */
  readonly onTable: ReadonlyMap<number, readonly Blocker[]>;
  /** Sessions with an open transaction: a CONCURRENTLY build waits for all of them. */
  readonly openTransactions: readonly Blocker[];
}

/**
 * One round trip to pg_locks and pg_stat_activity (no query texts: they may
 * hold secrets). What no migration linter shows: a DDL queued behind an idle
 * transaction queues everyone else behind itself.
 */
export async function sessionsNow(gw: Gateway, oids: readonly number[]): Promise<SessionsNow> {
  const rows = await gw.query<{ oid: string | null; mode: string | null; granted: boolean | null; pid: number; usename: string | null; application_name: string; state: string | null; xact_s: number | null }>(
    "read blocking sessions",
    `SELECT l.relation::int8 AS oid, l.mode, l.granted, a.pid, a.usename, a.application_name, a.state,
            extract(epoch FROM now() - a.xact_start)::float8 AS xact_s
       FROM pg_stat_activity a
       LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.relation = ANY ($1::oid[])
      WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() AND a.backend_type = 'client backend'
        AND (l.relation IS NOT NULL OR a.xact_start IS NOT NULL)`,
    [oids],
  );
  const onTable = new Map<number, Blocker[]>();
  const open = new Map<number, Blocker>();
  for (const r of rows) {
    const base = { pid: r.pid, user: r.usename ?? "", application: r.application_name, state: r.state ?? "", transactionSeconds: r.xact_s === null ? null : Math.round(r.xact_s) };
    if (r.xact_s !== null) open.set(r.pid, base);
    if (r.oid === null || r.mode === null) continue;
    const mode = fromPgLocksMode(r.mode);
    if (!mode) continue;
    const list = onTable.get(Number(r.oid)) ?? [];
    list.push({ ...base, mode, granted: r.granted ?? false });
    onTable.set(Number(r.oid), list);
  }
  return { onTable, openTransactions: [...open.values()] };
}

/** The sessions among `now` that the statement's lock on `oid` would wait for. */
export function blockersOf(now: SessionsNow, oid: number, mode: LockMode): Blocker[] {
  return (now.onTable.get(oid) ?? []).filter((b) => b.mode && lockConflicts(mode, b.mode));
}

export function blockerWords(b: Blocker): string {
  const age = b.transactionSeconds === null ? "" : `, transaction open ${duration(b.transactionSeconds)}`;
  const lock = b.mode ? ` ${b.granted ? "holds" : "waits for"} ${b.mode}` : "";
  return `pid ${b.pid} (${b.user}${b.application ? `, ${b.application}` : ""}, ${b.state || "no state"}${age})${lock}`;
}

function duration(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
