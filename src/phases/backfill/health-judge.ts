import type { HealthReading } from "../../catalog/health.js";
import type { HealthLimits } from "./health-config.js";

export type HealthSignal = "replication-lag" | "replication-lag-bytes" | "lock-waiters" | "autovacuum" | "active-sessions";

/** A signal past half its limit (`over` false) or past its limit (`over` true). */
export interface Finding {
  readonly signal: HealthSignal;
  /** Seconds for replication-lag, bytes for replication-lag-bytes, a count otherwise. */
  readonly value: number;
  readonly limit: number;
  readonly over: boolean;
  /** For people: "replication lag 12.3 s on standby replica1 (limit 10 s)". */
  readonly text: string;
}

const seconds = (s: number) => `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
export function bytes(n: number): string {
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/**
 * The signals past their limit, then those past half of it, worst first. Past
 * half a limit the backfill slows; past the limit it pauses (see Throttle).
 * Boolean signals and limits of 0 have no half-way zone.
 */
export function judge(r: HealthReading, limits: HealthLimits, table: string): Finding[] {
  const out: Finding[] = [];
  const check = (signal: HealthSignal, value: number, limit: number | null, text: (v: number, l: number) => string) => {
    if (limit === null) return;
    if (value > limit) out.push({ signal, value, limit, over: true, text: text(value, limit) });
    else if (limit > 0 && value > limit / 2) out.push({ signal, value, limit, over: false, text: text(value, limit) });
  };
  const worstBy = (f: (s: HealthReading["standbys"][number]) => number | null) =>
    r.standbys.reduce<{ name: string; v: number } | undefined>((w, s) => {
      const v = f(s);
      return v !== null && (w === undefined || v > w.v) ? { name: s.disconnected ? `disconnected standby (slot ${s.name})` : `standby ${s.name}`, v } : w;
    }, undefined);
  const lag = worstBy((s) => s.lagSeconds);
  if (lag && limits.replicationLagMs !== null) {
    check("replication-lag", lag.v, limits.replicationLagMs / 1000, (v, l) => `replication lag ${seconds(v)} on ${lag.name} (limit ${seconds(l)})`);
  }
  const lagBytes = worstBy((s) => s.lagBytes);
  if (lagBytes) check("replication-lag-bytes", lagBytes.v, limits.replicationLagBytes, (v, l) => `replication lag ${bytes(v)} of WAL on ${lagBytes.name} (limit ${bytes(l)})`);
  check("lock-waiters", r.lockWaiters, limits.lockWaiters, (v, l) => `${v} ${v === 1 ? "session waits" : "sessions wait"} for a lock on ${table} (limit ${l})`);
  if (limits.autovacuum) check("autovacuum", r.autovacuum, 0, () => `autovacuum is working on ${table}`);
  check("active-sessions", r.activeSessions, limits.activeSessions, (v, l) => `${v} active sessions on the server (limit ${l})`);
  return out.sort((a, b) => Number(b.over) - Number(a.over));
}

/** What a reading leaves unknown to this role, for a one-time warning; undefined when nothing. */
export function hiddenSignals(r: HealthReading, limits: HealthLimits): string | undefined {
  const hidden: string[] = [];
  const lagOn = limits.replicationLagMs !== null || limits.replicationLagBytes !== null;
  if (lagOn && !r.seesAll && r.standbys.some((s) => !s.disconnected && s.lagBytes === null)) hidden.push("the replication lag of its standbys");
  if (!r.seesAll && limits.autovacuum) hidden.push("autovacuum");
  if (!r.seesAll && limits.activeSessions !== null) hidden.push("other roles' active sessions");
  if (!hidden.length) return undefined;
  return `this role cannot see ${hidden.join(", ")} (grant it pg_monitor): the backfill is not throttled on what it cannot see`;
}
