import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { doctor, type DoctorReport } from "./catalog/doctor.js";
import { loadConfig, type KeelConfig } from "./config/config.js";
import { chooseTarget, type Target } from "./config/target.js";
import { defaultTuning, type Driver } from "./db/driver.js";
import { pgDriver } from "./db/pg.js";
import { pgliteDriver } from "./db/pglite.js";
import type { EventSink, KeelEvent } from "./events.js";
import { Gateway } from "./gateway/gateway.js";
import { Claims } from "./state/claims.js";
import { stateNames } from "./state/schema.js";
import type { PhaseDir } from "./phases/files.js";
import { loadMigrations } from "./phases/migrate/load.js";
import type { MigrationStatus } from "./phases/migrate/drift.js";
import { migrate, migrationStatus, planMigrations, type MigrateOptions, type MigrateResult, type PlannedStatement } from "./phases/migrate/phase.js";

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
  /** A dead runner's claim lapses after this many seconds (default 30). */
  readonly claimTtlSeconds?: number;
  /** Receives every event: the target, phases, migrations, retries. */
  readonly onEvent?: EventSink;
  /** Environment to read `DATABASE_URL` from (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/** What `status()` returns; `status --json` prints it. */
export interface KeelStatus {
  readonly migrations: readonly MigrationStatus[];
  readonly indexes: readonly { name: string; state: string }[];
  readonly backfills: readonly { name: string; state: string; rows?: number }[];
}

export interface Keel {
  /** Applies pending migrations. */
  migrate(opts?: MigrateOptions): Promise<MigrateResult>;
  /** Runs the phases in order (today: migrate). */
  run(opts?: MigrateOptions): Promise<MigrateResult>;
  status(): Promise<KeelStatus>;
  /** What `run` would do, statement by statement. */
  plan(): Promise<PlannedStatement[]>;
  doctor(): Promise<DoctorReport>;
  /** The connection target, chosen once (password removed). */
  target(): Promise<Target>;
  close(): Promise<void>;
}

interface Session {
  readonly cwd: string;
  readonly config: KeelConfig;
  readonly target: Target;
  readonly gw: Gateway;
  readonly claims: Claims;
  readonly names: ReturnType<typeof stateNames>;
  readonly lockTimeout: string;
  readonly migrationsDir: PhaseDir;
}

/**
 * ```ts
 * const keel = createKeel({ url: process.env.DATABASE_URL, cwd: "./app", onEvent: console.log });
 * try {
 *   const { applied } = await keel.migrate();
 * } finally {
 *   await keel.close();
 * }
 * ```
 */
export function createKeel(options: KeelOptions = {}): Keel {
  const emit = (e: KeelEvent) => options.onEvent?.(e);
  let opened: Promise<Session> | undefined;

  async function open(): Promise<Session> {
    const cwd = resolve(options.cwd ?? process.cwd());
    const { config } = await loadConfig(cwd, options.config);
    const target = chooseTarget({ url: options.url, via: options.via, env: options.env ?? process.env, config, cwd });
    emit({ type: "target", display: target.display, embedded: target.kind === "pglite" });
    const driver: Driver = target.kind === "pglite" ? pgliteDriver(target.dir) : pgDriver(target.url, defaultTuning);
    const gw = new Gateway(driver, {
      retry: {
        ...(options.maxRetries ?? config.maxRetries) !== undefined && { maxAttempts: options.maxRetries ?? config.maxRetries },
        ...(options.retryCapMs ?? config.retryCapMs) !== undefined && { capMs: options.retryCapMs ?? config.retryCapMs },
        ...(options.retryFirstMs ?? config.retryFirstMs) !== undefined && { firstMs: options.retryFirstMs ?? config.retryFirstMs },
      },
      onEvent: emit,
    });
    const names = stateNames(config.schema ?? "pgkeel");
    const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    return {
      cwd,
      config,
      target,
      gw,
      names,
      claims: new Claims(gw, names, owner, options.claimTtlSeconds ?? config.claimTtlSeconds ?? 30),
      lockTimeout: config.lockTimeout ?? "5s",
      migrationsDir: dir(cwd, options.migrationsDir ?? config.migrationsDir, "db/migrations"),
    };
  }

  const session = () => (opened ??= open());
  const deps = (s: Session) => ({ gw: s.gw, names: s.names, claims: s.claims, lockTimeout: s.lockTimeout, emit });

  const keel: Keel = {
    async migrate(opts) {
      const s = await session();
      // Every file is loaded and validated before anything changes.
      const files = await loadMigrations(s.migrationsDir, s.cwd);
      return migrate(deps(s), files, opts);
    },
    run: (opts) => keel.migrate(opts),
    async status() {
      const s = await session();
      const files = await loadMigrations(s.migrationsDir, s.cwd);
      return { migrations: await migrationStatus(deps(s), files), indexes: [], backfills: [] };
    },
    async plan() {
      const s = await session();
      const files = await loadMigrations(s.migrationsDir, s.cwd);
      return planMigrations(files, await migrationStatus(deps(s), files));
    },
    async doctor() {
      const s = await session();
      return doctor(s.gw, s.names.schema);
    },
    async target() {
      return (await session()).target;
    },
    async close() {
      if (!opened) return;
      const s = await opened.catch(() => undefined);
      await s?.gw.close();
    },
  };
  return keel;
}

function dir(cwd: string, named: string | undefined, fallback: string): PhaseDir {
  return named ? { path: resolve(cwd, named), explicit: true } : { path: resolve(cwd, fallback), explicit: false };
}
