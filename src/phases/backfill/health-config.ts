import { durationMs } from "../../sql/directives.js";

/**
 * The config file's `backfill.health`: the limit of each health signal a backfill
 * watches before each batch. `false` turns a signal off.
 */
export interface HealthConfig {
  /** Most replay lag of any standby, as a duration ("10s"). Default "10s". */
  readonly replicationLag?: string | false;
  /** Most WAL not yet replayed by any standby: bytes, or "512MB", "1GB". Default "1GB". */
  readonly replicationLagBytes?: number | string | false;
  /** Most sessions waiting for a lock on the backfill's table. Default 0: any waiter. */
  readonly lockWaiters?: number | false;
  /** Pause while autovacuum works on the table. Default false. */
  readonly autovacuum?: boolean;
  /** Most client sessions running a statement at once in the server. Default false (off). */
  readonly activeSessions?: number | false;
}

/** The limits in numbers; null is off. */
export interface HealthLimits {
  readonly replicationLagMs: number | null;
  readonly replicationLagBytes: number | null;
  readonly lockWaiters: number | null;
  readonly autovacuum: boolean;
  readonly activeSessions: number | null;
}

export const defaultHealth: HealthLimits = {
  replicationLagMs: 10_000,
  replicationLagBytes: 1024 ** 3,
  lockWaiters: 0,
  autovacuum: false,
  activeSessions: null,
};

const sizeUnits: Record<string, number> = { "": 1, B: 1, kB: 1024, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** "512MB" (PostgreSQL's units, powers of 1024) or a number of bytes; NaN when unreadable. */
export function sizeBytes(v: number | string): number {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v : Number.NaN;
  const m = /^(\d+(?:\.\d+)?)\s*([kKMGT]?B)?$/.exec(v.trim());
  return m ? Math.round(Number(m[1]) * sizeUnits[m[2] ?? ""]!) : Number.NaN;
}

const keys = ["replicationLag", "replicationLagBytes", "lockWaiters", "autovacuum", "activeSessions"] as const;

/**
 * Checks `backfill` from the config file; returns what is wrong with it (one
 * sentence naming the key), or undefined when it is fine.
 */
export function backfillConfigProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "backfill must be an object ({ health: { replicationLag: \"10s\" } })";
  const { health, ...rest } = v as { health?: unknown };
  const extra = Object.keys(rest);
  if (extra.length) return `backfill: unknown key "${extra[0]}" (known: health)`;
  if (health === undefined) return undefined;
  if (typeof health !== "object" || health === null || Array.isArray(health)) return "backfill.health must be an object";
  for (const [k, value] of Object.entries(health)) {
    const at = `backfill.health.${k}`;
    if (!(keys as readonly string[]).includes(k)) return `${at}: unknown signal (known: ${keys.join(", ")})`;
    if (k === "autovacuum") {
      if (typeof value !== "boolean") return `${at} must be true or false`;
      continue;
    }
    if (value === false) continue;
    if (k === "replicationLag" && !(typeof value === "string" && Number.isFinite(durationMs(value)))) return `${at} must be a duration such as "10s" or "500ms", or false`;
    if (k === "replicationLagBytes" && !((typeof value === "string" || typeof value === "number") && Number.isFinite(sizeBytes(value)))) {
      return `${at} must be a size such as "512MB" or "1GB", a number of bytes, or false`;
    }
    if ((k === "lockWaiters" || k === "activeSessions") && !(typeof value === "number" && Number.isInteger(value) && value >= 0)) {
      return `${at} must be a whole number >= 0, or false`;
    }
  }
  return undefined;
}

/** The defaults with the config's choices over them (a checked config). */
export function healthLimits(c: HealthConfig | undefined): HealthLimits {
  const pick = <T>(v: T | false | undefined, parse: (x: T) => number, fallback: number | null) => (v === false ? null : v === undefined ? fallback : parse(v));
  return {
    replicationLagMs: pick(c?.replicationLag, durationMs, defaultHealth.replicationLagMs),
    replicationLagBytes: pick(c?.replicationLagBytes, sizeBytes, defaultHealth.replicationLagBytes),
    lockWaiters: pick(c?.lockWaiters, Number, defaultHealth.lockWaiters),
    autovacuum: c?.autovacuum ?? defaultHealth.autovacuum,
    activeSessions: pick(c?.activeSessions, Number, defaultHealth.activeSessions),
  };
}
