// Only what `migrate` needs is imported here; every other phase and command is
// imported when first called, so a deploy with nothing to do loads little.
import { resolve } from "node:path";
import type { DoctorReport } from "./catalog/doctor.js";
import { loadConfig } from "./config/config.js";
import { chooseTarget, type Target } from "./config/target.js";
import type { KeelEvent } from "./events.js";
import type { Analysis } from "./safety/analyze.js";
import { listPhaseFiles } from "./phases/files.js";
import { loadMigrationFiles, loadMigrations, migrationExtensions } from "./phases/migrate/load.js";
import { backfillNames, checkAfterBackfill, markWaiting } from "./phases/migrate/after-backfill.js";
import type { BaselineOptions, BaselineResult } from "./phases/migrate/baseline.js";
import type { DryRunMessage, MigrateDryRun } from "./phases/migrate/dry-run.js";
import type { RepairChange, RepairOptions } from "./phases/migrate/repair.js";
import type { WaitResult } from "./phases/wait.js";
import type { AdoptOptions, AdoptResult } from "./adopt/adopt.js";
import type { MigrationStatus } from "./phases/migrate/drift.js";
import { appliedRows, migrate, migrationStatus, planMigrations, type MigrateOptions, type MigrateResult, type PlannedStatement } from "./phases/migrate/phase.js";
import type { DeclaredIndex } from "./phases/indexes/declared.js";
import type { IndexesOptions, IndexesResult, IndexStatus } from "./phases/indexes/phase.js";
import type { MigrationFile } from "./phases/migrate/migration.js";
import type { AppliedMigration } from "./state/migrations.js";
import type { PhaseContext } from "./phases/context.js";
import type { Backfill } from "./phases/backfill/declared.js";
import type { BackfillResult, BackfillStatus } from "./phases/backfill/phase.js";
import { refuseWhatStatementModeCannotRun } from "./phases/statement-mode.js";
import { dir, openSession, type KeelOptions, type Session } from "./session.js";

export type { KeelOptions };

const sessions = new WeakMap<Keel, () => Promise<Session>>();

/**
 * The keel's opened session (gateway, state names, claims). For pgkeel's own fleet
 * scheduler, which keeps per-member bookkeeping in the member's state; not public API.
 */
export function sessionOf(keel: Keel): Promise<Session> {
  const open = sessions.get(keel);
  if (!open) throw new Error("not a keel made by createKeel");
  return open();
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
  /** Runs unfinished backfills in keyset batches, each batch applied exactly once; `workers` per backfill in this process (default the `workers` option, else 1). */
  backfill(opts?: { readonly workers?: number }): Promise<BackfillResult>;
  /** Pauses (`paused: true`) or resumes a backfill for every worker of every process, from anywhere. */
  pauseBackfill(name: string, paused: boolean): Promise<void>;
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

  const session = () => (opened ??= openSession(options, emit));
  const deps = (s: Session): PhaseContext => ({ gw: s.gw, names: s.names, claims: s.claims, lockTimeout: s.lockTimeout, idleTimeout: s.idleTimeout, workers: s.workers, emit, pooler: s.pooler, serverVersion: s.serverVersion, ready: s.ready, stateHas: s.stateHas, stop: options.signal, safety: s.config.safety, health: s.config.backfill?.health });

  /**
   * The tracking rows (read only), then the migration files against them: an applied
   * file with the bytes recorded when it was applied is not parsed again. The embedded
   * database is opened only once every file is known good (opening it takes seconds and
   * makes its folder), so there every file is parsed first, as it always was.
   */
  async function migrationFiles(s: Session): Promise<{ migrations: MigrationFile[]; applied: AppliedMigration[] }> {
    if (s.target.kind === "pglite") {
      const migrations = await loadMigrations(s.migrationsDir, s.cwd);
      return { migrations, applied: await appliedRows(deps(s)) };
    }
    const applied = await appliedRows(deps(s)).catch(async (e: unknown) => {
      // A fault in a file outranks a database that cannot be read, as when files were read first.
      await loadMigrations(s.migrationsDir, s.cwd);
      throw e;
    });
    return { migrations: await loadMigrationFiles(s.migrationsDir, s.cwd, applied), applied };
  }

  /** Every file of every phase, loaded and validated before anything changes (SPEC guarantee 8). */
  async function load(s: Session): Promise<{ migrations: MigrationFile[]; applied: AppliedMigration[]; indexes: DeclaredIndex[]; backfills: Backfill[] }> {
    const [{ loadIndexes }, { loadBackfills }] = await Promise.all([import("./phases/indexes/declared.js"), import("./phases/backfill/declared.js")]);
    const files = {
      ...(await migrationFiles(s)),
      indexes: await loadIndexes(s.indexesDir, s.cwd),
      backfills: await loadBackfills(s.backfillsDir, s.cwd),
    };
    checkAfterBackfill(files.migrations, files.backfills.map((b) => b.name));
    return files;
  }

  /** Migrations alone (for `migrate`): backfills are only listed, for `after-backfill` directives. */
  async function loadMigrationsOnly(s: Session): Promise<{ migrations: MigrationFile[]; applied: AppliedMigration[] }> {
    const files = await migrationFiles(s);
    if (files.migrations.some((m) => m.kind !== "unchanged" && m.directives.afterBackfill)) checkAfterBackfill(files.migrations, backfillNames(s.backfillsDir, s.cwd));
    return files;
  }

  const keel: Keel = {
    async migrate(opts) {
      const s = await session();
      const { migrations, applied } = await loadMigrationsOnly(s);
      await refuseWhatStatementModeCannotRun(deps(s), { migrations });
      return migrate(deps(s), migrations, opts, applied);
    },
    async indexes(opts) {
      const s = await session();
      const [{ loadIndexes }, { buildIndexes }] = await Promise.all([import("./phases/indexes/declared.js"), import("./phases/indexes/phase.js")]);
      return buildIndexes(deps(s), await loadIndexes(s.indexesDir, s.cwd), opts);
    },
    async backfill(opts = {}) {
      const s = await session();
      const [{ loadBackfills }, { backfill }] = await Promise.all([import("./phases/backfill/declared.js"), import("./phases/backfill/phase.js")]);
      const backfills = await loadBackfills(s.backfillsDir, s.cwd);
      await refuseWhatStatementModeCannotRun(deps(s), { backfills });
      return backfill(deps(s), backfills, undefined, { workers: opts.workers });
    },
    async pauseBackfill(name, paused) {
      const s = await session();
      const [{ loadBackfills }, { setPaused }] = await Promise.all([import("./phases/backfill/declared.js"), import("./phases/backfill/phase.js")]);
      return setPaused(deps(s), await loadBackfills(s.backfillsDir, s.cwd), name, paused);
    },
    async run(opts) {
      const s = await session();
      const files = await load(s);
      const [{ buildIndexes }, { backfill }] = await Promise.all([import("./phases/indexes/phase.js"), import("./phases/backfill/phase.js")]);
      await refuseWhatStatementModeCannotRun(deps(s), files);
      let migrated = await migrate(deps(s), files.migrations, opts, files.applied);
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
      const [{ indexStatus }, { backfillStatus }] = await Promise.all([import("./phases/indexes/phase.js"), import("./phases/backfill/phase.js")]);
      return {
        migrations: await markWaiting(deps(s), files.migrations, await migrationStatus(deps(s), files.migrations, files.applied)),
        indexes: await indexStatus(s.gw, files.indexes),
        backfills: await backfillStatus(deps(s), files.backfills),
      };
    },
    async plan() {
      const s = await session();
      const files = await load(s);
      const [{ indexStatus, planIndexes }, { backfillStatus, planBackfills }] = await Promise.all([import("./phases/indexes/phase.js"), import("./phases/backfill/phase.js")]);
      return [
        ...(await planMigrations(deps(s), files.migrations, await markWaiting(deps(s), files.migrations, await migrationStatus(deps(s), files.migrations, files.applied)))),
        ...planIndexes(files.indexes, await indexStatus(s.gw, files.indexes)),
        ...planBackfills(files.backfills, await backfillStatus(deps(s), files.backfills)),
      ];
    },
    async doctor() {
      const s = await session();
      const { doctor } = await import("./catalog/doctor.js");
      return doctor(s.gw, s.names.schema);
    },
    async baseline(opts) {
      const s = await session();
      const { baseline } = await import("./phases/migrate/baseline.js");
      return baseline(deps(s), await loadMigrations(s.migrationsDir, s.cwd), opts);
    },
    async adopt(opts) {
      const s = await session();
      const { adopt } = await import("./adopt/adopt.js");
      return adopt(deps(s), await loadMigrations(s.migrationsDir, s.cwd), opts);
    },
    async repair(opts) {
      const s = await session();
      const { repair } = await import("./phases/migrate/repair.js");
      return repair(deps(s), await loadMigrations(s.migrationsDir, s.cwd), opts);
    },
    async wait(opts = {}) {
      const s = await session();
      if (s.target.kind === "pglite") return { attempts: 0, ms: 0 };
      const timeoutMs = opts.timeoutMs ?? 60_000;
      const [{ defaultTuning }, { pgDriver }, { Gateway }, { waitForLogin }] = await Promise.all([
        import("./db/driver.js"),
        import("./db/pg.js"),
        import("./gateway/gateway.js"),
        import("./phases/wait.js"),
      ]);
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
      const [{ dryRunMigrate }, { dryRunLaterPhases }] = await Promise.all([import("./phases/migrate/dry-run.js"), import("./phases/dry-run.js")]);
      if (!opts.run) {
        const { migrations, applied } = await loadMigrationsOnly(s);
        return { ...(await dryRunMigrate(deps(s), migrations, opts, applied)), later: [] };
      }
      const files = await load(s);
      return { ...(await dryRunMigrate(deps(s), files.migrations, opts, files.applied)), later: await dryRunLaterPhases(deps(s), files.indexes, files.backfills) };
    },
    async lint(opts = {}) {
      const [{ analyze }, lint] = await Promise.all([import("./safety/analyze.js"), import("./safety/lint.js")]);
      const cwd = resolve(options.cwd ?? process.cwd());
      const { config } = await loadConfig(cwd, options.config);
      const named = opts.files?.length ? opts.files : undefined;
      const files = named ? await lint.loadLintFiles(named, cwd) : await lint.loadInputs(listPhaseFiles(dir(cwd, options.migrationsDir ?? config.migrationsDir, "db/migrations"), cwd, migrationExtensions));
      // No URL: no database (never the embedded one, which would know nothing of production).
      if (chooseTarget({ url: options.url, via: options.via, env: options.env ?? process.env, config, cwd }).kind === "pglite") return analyze(files, undefined, config.safety);
      const s = await session();
      const applied = named ? new Set<string>() : await lint.appliedNames(s.gw, s.names);
      const analysis = await analyze(files.filter((f) => !applied.has(f.name)), s.gw, config.safety);
      // With nothing to ask the database the analysis skipped it; lint still names the server it judged for.
      return analysis.serverVersion === undefined ? { ...analysis, serverVersion: (await s.serverVersion()).num } : analysis;
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
  sessions.set(keel, session);
  return keel;
}
