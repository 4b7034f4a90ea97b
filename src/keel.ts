import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { doctor, type DoctorReport } from "./catalog/doctor.js";
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
import { listPhaseFiles, type PhaseDir } from "./phases/files.js";
import type { Analysis } from "./safety/analyze.js";
import { loadMigrations, migrationExtensions } from "./phases/migrate/load.js";
import { backfillNames, checkAfterBackfill, markWaiting } from "./phases/migrate/after-backfill.js";
import { baseline, type BaselineOptions, type BaselineResult } from "./phases/migrate/baseline.js";
import { dryRunMigrate, type DryRunMessage, type MigrateDryRun } from "./phases/migrate/dry-run.js";
import { dryRunLaterPhases } from "./phases/dry-run.js";
import { repair, type RepairChange, type RepairOptions } from "./phases/migrate/repair.js";
import { waitForLogin, type WaitResult } from "./phases/wait.js";
import { adopt, type AdoptOptions, type AdoptResult } from "./adopt/adopt.js";
import type { MigrationStatus } from "./phases/migrate/drift.js";
import { migrate, migrationStatus, planMigrations, type MigrateOptions, type MigrateResult, type PlannedStatement } from "./phases/migrate/phase.js";
import { detectPooler, type PoolerMode } from "./catalog/pooler.js";
import { readServerVersion, type ServerVersion } from "./catalog/version.js";
import { loadIndexes, type DeclaredIndex } from "./phases/indexes/declared.js";
import { buildIndexes, indexStatus, planIndexes, type IndexesOptions, type IndexesResult, type IndexStatus } from "./phases/indexes/phase.js";
import type { Migration } from "./phases/migrate/migration.js";
import type { PhaseContext } from "./phases/context.js";
import { loadBackfills, type Backfill } from "./phases/backfill/declared.js";
import { backfill, backfillStatus, planBackfills, type BackfillResult, type BackfillStatus } from "./phases/backfill/phase.js";
import { refuseWhatStatementModeCannotRun } from "./phases/statement-mode.js";

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
}

/** What `status()` returns; `status --json` prints it. */
export interface KeelStatus {
  readonly migrations: readonly MigrationStatus[];
  readonly indexes: readonly IndexStatus[];
  readonly backfills: readonly BackfillStatus[];
}

/** What `run()` did, phase by phase. */
export interface RunResult {
  readonly migrate: MigrateResult;
  readonly indexes: IndexesResult;
  readonly backfill: BackfillResult;
}

export interface Keel {
  /** Applies pending migrations. */
  migrate(opts?: MigrateOptions): Promise<MigrateResult>;
  /** Builds declared indexes that are missing or invalid, always concurrently. */
  indexes(opts?: IndexesOptions): Promise<IndexesResult>;
  /** Runs unfinished backfills in keyset batches, each batch applied exactly once. */
  backfill(): Promise<BackfillResult>;
  /** Runs the phases in order, stopping at the first that fails. Every file of every phase is validated first. */
  run(opts?: MigrateOptions & IndexesOptions): Promise<RunResult>;
  status(): Promise<KeelStatus>;
  /** What `run` would do, statement by statement. */
  plan(): Promise<PlannedStatement[]>;
  doctor(): Promise<DoctorReport>;
  /** Records migrations (up to `to`) as applied without running them; idempotent. */
  baseline(opts?: BaselineOptions): Promise<BaselineResult>;
  /** Imports another tool's applied migrations, matched to the project's files by name. */
  adopt(opts: AdoptOptions): Promise<AdoptResult>;
  /** Accepts changed checksums, forgets missing files, resolves a statement of unknown outcome; one transaction. */
  repair(opts?: RepairOptions): Promise<RepairChange[]>;
  /** Resolves once the database accepts a login (default timeout 60 s). */
  wait(opts?: { readonly timeoutMs?: number }): Promise<WaitResult>;
  /** The SQL `migrate` (with `run: true`, `run`) would send, message by message; changes nothing. */
  dryRun(opts?: MigrateOptions & { readonly run?: boolean }): Promise<MigrateDryRun & { readonly later: readonly DryRunMessage[] }>;
  /**
   * Safety findings (SPEC guarantee 10) for `files` (files or folders), else the
   * project's migrations: all of them without a database, the pending ones with one.
   * With a URL the database gives the context; without one, sizes are unknown. Never writes.
   */
  lint(opts?: { readonly files?: readonly string[] }): Promise<Analysis>;
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
  readonly indexesDir: PhaseDir;
  readonly backfillsDir: PhaseDir;
  readonly pooler: () => Promise<PoolerMode>;
  readonly serverVersion: () => Promise<ServerVersion>;
  readonly ready: () => Promise<void>;
  readonly stateHas: (table: string) => Promise<boolean>;
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
    projectFolder(cwd);
    const { config } = await loadConfig(cwd, options.config);
    const target = chooseTarget({ url: options.url, via: options.via, env: options.env ?? process.env, config, cwd });
    emit({ type: "target", display: target.display, embedded: target.kind === "pglite" });
    // The runner's id names its claims and its connections (application_name), so other runners
    // can find a statement it started in pg_stat_activity.
    const runnerId = randomBytes(4).toString("hex");
    const appName = `pgkeel:${runnerId}`;
    const embeddedWait = options.embeddedWaitSeconds ?? config.embeddedWaitSeconds;
    const driver: Driver =
      target.kind === "pglite"
        ? pgliteDriver(target.dir, {
            ...(embeddedWait !== undefined && { waitMs: embeddedWait * 1000 }),
            onWait: (holder) => emit({ type: "waiting", what: `the embedded database ${target.dir}`, holder }),
            stop: options.signal,
          })
        : pgDriver(target.url, defaultTuning, appName);
    const gw = new Gateway(driver, {
      retry: {
        ...(options.maxRetries ?? config.maxRetries) !== undefined && { maxAttempts: options.maxRetries ?? config.maxRetries },
        ...(options.retryCapMs ?? config.retryCapMs) !== undefined && { capMs: options.retryCapMs ?? config.retryCapMs },
        ...(options.retryFirstMs ?? config.retryFirstMs) !== undefined && { firstMs: options.retryFirstMs ?? config.retryFirstMs },
      },
      onEvent: emit,
      stop: options.signal,
    });
    const names = stateNames(config.schema ?? "pgkeel");
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

  const session = () => (opened ??= open());
  const deps = (s: Session): PhaseContext => ({ gw: s.gw, names: s.names, claims: s.claims, lockTimeout: s.lockTimeout, emit, pooler: s.pooler, serverVersion: s.serverVersion, ready: s.ready, stateHas: s.stateHas, stop: options.signal, safety: s.config.safety });

  /** Every file of every phase, loaded and validated before anything changes (SPEC guarantee 8). */
  async function load(s: Session): Promise<{ migrations: Migration[]; indexes: DeclaredIndex[]; backfills: Backfill[] }> {
    const files = {
      migrations: await loadMigrations(s.migrationsDir, s.cwd),
      indexes: await loadIndexes(s.indexesDir, s.cwd),
      backfills: await loadBackfills(s.backfillsDir, s.cwd),
    };
    checkAfterBackfill(files.migrations, files.backfills.map((b) => b.name));
    return files;
  }

  /** Migrations alone (for `migrate`): backfills are only listed, for `after-backfill` directives. */
  async function loadMigrationsOnly(s: Session): Promise<Migration[]> {
    const migrations = await loadMigrations(s.migrationsDir, s.cwd);
    if (migrations.some((m) => m.directives.afterBackfill)) checkAfterBackfill(migrations, backfillNames(s.backfillsDir, s.cwd));
    return migrations;
  }

  const keel: Keel = {
    async migrate(opts) {
      const s = await session();
      const migrations = await loadMigrationsOnly(s);
      await refuseWhatStatementModeCannotRun(deps(s), { migrations });
      return migrate(deps(s), migrations, opts);
    },
    async indexes(opts) {
      const s = await session();
      return buildIndexes(deps(s), await loadIndexes(s.indexesDir, s.cwd), opts);
    },
    async backfill() {
      const s = await session();
      const backfills = await loadBackfills(s.backfillsDir, s.cwd);
      await refuseWhatStatementModeCannotRun(deps(s), { backfills });
      return backfill(deps(s), backfills);
    },
    async run(opts) {
      const s = await session();
      const files = await load(s);
      await refuseWhatStatementModeCannotRun(deps(s), files);
      let migrated = await migrate(deps(s), files.migrations, opts);
      const indexes = await buildIndexes(deps(s), files.indexes, opts);
      // Contract migrations go right after the backfill they wait on is done.
      const afterBackfill = async (name: string) => {
        if (!migrated.held.some((h) => h.backfill === name)) return;
        const more = await migrate(deps(s), files.migrations, opts);
        migrated = { applied: [...migrated.applied, ...more.applied], skipped: [...migrated.skipped, ...more.skipped], held: more.held };
      };
      const backfilled = await backfill(deps(s), files.backfills, afterBackfill);
      return { migrate: migrated, indexes, backfill: backfilled };
    },
    async status() {
      const s = await session();
      const files = await load(s);
      return {
        migrations: await markWaiting(deps(s), files.migrations, await migrationStatus(deps(s), files.migrations)),
        indexes: await indexStatus(s.gw, files.indexes),
        backfills: await backfillStatus(deps(s), files.backfills),
      };
    },
    async plan() {
      const s = await session();
      const files = await load(s);
      return [
        ...(await planMigrations(deps(s), files.migrations, await markWaiting(deps(s), files.migrations, await migrationStatus(deps(s), files.migrations)))),
        ...planIndexes(files.indexes, await indexStatus(s.gw, files.indexes)),
        ...planBackfills(files.backfills, await backfillStatus(deps(s), files.backfills)),
      ];
    },
    async doctor() {
      const s = await session();
      return doctor(s.gw, s.names.schema);
    },
    async baseline(opts) {
      const s = await session();
      return baseline(deps(s), await loadMigrations(s.migrationsDir, s.cwd), opts);
    },
    async adopt(opts) {
      const s = await session();
      return adopt(deps(s), await loadMigrations(s.migrationsDir, s.cwd), opts);
    },
    async repair(opts) {
      const s = await session();
      return repair(deps(s), await loadMigrations(s.migrationsDir, s.cwd), opts);
    },
    async wait(opts = {}) {
      const s = await session();
      if (s.target.kind === "pglite") return { attempts: 0, ms: 0 };
      const timeoutMs = opts.timeoutMs ?? 60_000;
      // One attempt per call, each bounded by the time left.
      const tuning = { ...defaultTuning, connectTimeoutMs: Math.max(500, Math.min(defaultTuning.connectTimeoutMs, timeoutMs)) };
      const gw = new Gateway(pgDriver(s.target.url, tuning), { retry: { maxAttempts: 1 }, stop: options.signal });
      try {
        return await waitForLogin(gw, timeoutMs, (attempt, cause, nextInMs) => emit({ type: "wait-attempt", attempt, cause, nextInMs }), options.signal);
      } finally {
        await gw.close();
      }
    },
    async dryRun(opts = {}) {
      const s = await session();
      if (!opts.run) return { ...(await dryRunMigrate(deps(s), await loadMigrationsOnly(s), opts)), later: [] };
      const files = await load(s);
      return { ...(await dryRunMigrate(deps(s), files.migrations, opts)), later: await dryRunLaterPhases(deps(s), files.indexes, files.backfills) };
    },
    async lint(opts = {}) {
      const cwd = resolve(options.cwd ?? process.cwd());
      const { config } = await loadConfig(cwd, options.config);
      const [{ analyze }, lint] = await Promise.all([import("./safety/analyze.js"), import("./safety/lint.js")]);
      const named = opts.files?.length ? opts.files : undefined;
      const files = named ? await lint.loadLintFiles(named, cwd) : await lint.loadInputs(listPhaseFiles(dir(cwd, options.migrationsDir ?? config.migrationsDir, "db/migrations"), cwd, migrationExtensions));
      // No URL: no database (never the embedded one, which would know nothing of production).
      if (chooseTarget({ url: options.url, via: options.via, env: options.env ?? process.env, config, cwd }).kind === "pglite") return analyze(files, undefined, config.safety);
      const s = await session();
      const applied = named ? new Set<string>() : await lint.appliedNames(s.gw, s.names);
      return analyze(files.filter((f) => !applied.has(f.name)), s.gw, config.safety);
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

function dir(cwd: string, named: string | undefined, fallback: string): PhaseDir {
  return named ? { path: resolve(cwd, named), explicit: true } : { path: resolve(cwd, fallback), explicit: false };
}
