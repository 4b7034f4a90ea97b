import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { loadConfig, type KeelConfig } from "./config/config.js";
import { chooseTarget, type Target } from "./config/target.js";
import { defaultTuning, type Driver } from "./db/driver.js";
import { pgDriver } from "./db/pg.js";
import { pgliteDriver } from "./db/pglite.js";
import { UsageError } from "./errors.js";
import type { EventSink, KeelEvent } from "./events.js";
import { Gateway } from "./gateway/gateway.js";
import { Claims, lapseClaims } from "./state/claims.js";
import { ensureState, missingState, stateNames } from "./state/schema.js";
import type { PhaseDir } from "./phases/files.js";
import { detectPooler, type PoolerMode } from "./catalog/pooler.js";
import { readServerVersion, type ServerVersion } from "./catalog/version.js";

export interface KeelOptions {
  /** The project folder (default: the current directory). */
  readonly cwd?: string;
  /** Database URL; else `via`, `DATABASE_URL`, the config's `url`, else embedded PGlite. */
  readonly url?: string;
  /** Name of a URL in the config's `urls`. */
  readonly via?: string;
  /** Config file path (default: `pgkeel.config.{ts,mjs,js,json}` in `cwd`). */
  readonly config?: string;
  readonly migrationsDir?: string;
  readonly indexesDir?: string;
  readonly backfillsDir?: string;
  /** Attempts per unit (default 10). */
  readonly maxRetries?: number;
  /** Longest wait between attempts, ms (default 8000). */
  readonly retryCapMs?: number;
  /** Upper bound of the first wait, ms (default 800). */
  readonly retryFirstMs?: number;
  /** Workers per backfill in this process (default 1; the config's `workers`). */
  readonly workers?: number;
  /** A dead runner's claim lapses after this many seconds (default 30). */
  readonly claimTtlSeconds?: number;
  /** How long to wait for another process using the embedded database before giving up with exit 3 (default 300). */
  readonly embeddedWaitSeconds?: number;
  /** Receives every event: the target, phases, migrations, retries. */
  readonly onEvent?: EventSink;
  /** Environment to read `DATABASE_URL` from (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Graceful stop: once aborted, no new unit starts, the one in flight finishes,
   * claims are released, and the call rejects with a `StoppedError` naming what
   * was done and what was left. The abort reason names the cause (`"SIGTERM"`).
   */
  readonly signal?: AbortSignal;
  /** Schema of pgkeel's own tables, over the config's `schema` (a fleet gives each tenant schema its own). */
  readonly stateSchema?: string;
  /** Names this runner's claims and connections (`pgkeel:<runnerId>`); default a random id. */
  readonly runnerId?: string;
  /** Most connections this keel opens at once (default 4); a fleet caps each member. */
  readonly maxConnections?: number;
}

/** One opened project: its config, target, gateway and claims, shared by every call of a `Keel`. */
export interface Session {
  readonly cwd: string;
  readonly config: KeelConfig;
  readonly target: Target;
  readonly gw: Gateway;
  readonly claims: Claims;
  readonly names: ReturnType<typeof stateNames>;
  readonly lockTimeout: string;
  readonly idleTimeout: string;
  /** Workers per backfill in this process. */
  readonly workers: number;
  readonly migrationsDir: PhaseDir;
  readonly indexesDir: PhaseDir;
  readonly backfillsDir: PhaseDir;
  readonly pooler: () => Promise<PoolerMode>;
  readonly serverVersion: () => Promise<ServerVersion>;
  readonly ready: () => Promise<void>;
  readonly stateHas: (table: string) => Promise<boolean>;
}

/** Chooses the target, opens the gateway and the claims; the state tables are made only when a phase first needs them. */
export async function openSession(options: KeelOptions, emit: (e: KeelEvent) => void): Promise<Session> {
  const cwd = resolve(options.cwd ?? process.cwd());
  projectFolder(cwd);
  const { config } = await loadConfig(cwd, options.config);
  const target = chooseTarget({ url: options.url, via: options.via, env: options.env ?? process.env, config, cwd });
  emit({ type: "target", display: target.display, embedded: target.kind === "pglite" });
  // The runner's id names its claims and its connections (application_name), so other runners
  // can find a statement it started in pg_stat_activity.
  const runnerId = options.runnerId ?? randomBytes(4).toString("hex");
  const workers = options.workers ?? config.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`workers needs a whole number of at least 1, got ${workers}`);
  const appName = `pgkeel:${runnerId}`;
  const embeddedWait = options.embeddedWaitSeconds ?? config.embeddedWaitSeconds;
  const driver: Driver =
    target.kind === "pglite"
      ? pgliteDriver(target.dir, {
          ...(embeddedWait !== undefined && { waitMs: embeddedWait * 1000 }),
          onWait: (holder) => emit({ type: "waiting", what: `the embedded database ${target.dir}`, holder }),
          stop: options.signal,
        })
      : // Each backfill worker holds a connection for its batch; claims and reports need one beside them.
        pgDriver(target.url, { ...defaultTuning, maxConnections: options.maxConnections ?? Math.max(defaultTuning.maxConnections, workers + 2) }, appName);
  const gw = new Gateway(driver, {
    retry: {
      ...(options.maxRetries ?? config.maxRetries) !== undefined && { maxAttempts: options.maxRetries ?? config.maxRetries },
      ...(options.retryCapMs ?? config.retryCapMs) !== undefined && { capMs: options.retryCapMs ?? config.retryCapMs },
      ...(options.retryFirstMs ?? config.retryFirstMs) !== undefined && { firstMs: options.retryFirstMs ?? config.retryFirstMs },
    },
    onEvent: emit,
    stop: options.signal,
  });
  const names = stateNames(options.stateSchema ?? config.schema ?? "pgkeel");
  const owner = `${hostname()}:${process.pid}:${runnerId}`;
  let created = false;
  const missing = memo(() => missingState(gw, names));
  return {
    cwd,
    config,
    target,
    gw,
    names,
    claims: new Claims(gw, names, owner, options.claimTtlSeconds ?? config.claimTtlSeconds ?? 30, appName),
    lockTimeout: config.lockTimeout ?? "5s",
    idleTimeout: config.idleInTransactionTimeout ?? "60s",
    workers,
    migrationsDir: dir(cwd, options.migrationsDir ?? config.migrationsDir, "db/migrations"),
    indexesDir: dir(cwd, options.indexesDir ?? config.indexesDir, "db/indexes"),
    backfillsDir: dir(cwd, options.backfillsDir ?? config.backfillsDir, "db/backfills"),
    pooler: memo(() => detectPooler(gw)),
    serverVersion: memo(() => gw.executeWithRetry({ name: "read server version", run: readServerVersion })),
    ready: memo(async () => {
      // A status() before has already looked; only a missing table costs the creating round trip.
      if ((await missing()).length > 0) await ensureState(gw, names);
      created = true;
      // Behind the directory lock this process is alone on the embedded database: a claim there is a dead runner's.
      if (target.kind === "pglite") await lapseClaims(gw, names);
    }),
    stateHas: async (table) => created || !(await missing()).includes(table),
  };
}

/** Runs `f` once and shares its result; a failure is not kept, so a later call tries again. */
function memo<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () =>
    (p ??= f().catch((e) => {
      p = undefined;
      throw e;
    }));
}

/** A project folder that does not exist is a usage error, not an empty project. */
function projectFolder(cwd: string): void {
  if (!existsSync(cwd)) throw new UsageError(`${cwd}: project folder not found (--cwd or the cwd option)`);
  if (!statSync(cwd).isDirectory()) throw new UsageError(`${cwd}: not a folder (--cwd or the cwd option names the project folder)`);
}

export function dir(cwd: string, named: string | undefined, fallback: string): PhaseDir {
  return named ? { path: resolve(cwd, named), explicit: true } : { path: resolve(cwd, fallback), explicit: false };
}
