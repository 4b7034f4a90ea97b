import { DriftError, PgkeelError, StoppedError } from "../../errors.js";
import type { Finding } from "../../safety/types.js";
import type { Blocker } from "../../safety/blockers.js";
import { judgeMigrations } from "../../safety/judge.js";
import { readApplied, type AppliedMigration } from "../../state/migrations.js";
import type { PhaseContext } from "../context.js";
import { noteStop } from "../stop.js";
import { holdBack, type Held } from "./after-backfill.js";
import type { Outcome } from "./batch.js";
import { compare, type MigrationStatus } from "./drift.js";
import { loaded, type Migration, type MigrationFile } from "./migration.js";

export interface MigrateOptions {
  /** Apply even though an applied migration's file changed. */
  readonly allowChanged?: boolean;
  /** Apply even though an applied migration's file is gone. */
  readonly allowMissing?: boolean;
  /** Apply a new migration that sorts before the last applied one. */
  readonly allowOutOfOrder?: boolean;
  /** Apply even though safety findings would refuse the run; each one let through is reported. */
  readonly allowUnsafe?: boolean;
}

export interface MigrateResult {
  /** Applied by this run, in order. */
  readonly applied: readonly string[];
  /** Found applied by another runner while this one waited. */
  readonly skipped: readonly string[];
  /** Pending but held back until a backfill is done (`-- pgkeel:after-backfill`); `run` applies them after it. */
  readonly held: readonly Held[];
}


/** The tracking rows. Reads only: a database pgkeel never touched has none. */
export async function appliedRows(deps: PhaseContext): Promise<AppliedMigration[]> {
  if (!(await deps.stateHas(deps.names.migrations))) return [];
  return readApplied(deps.gw, deps.names, await deps.stateHas(`${deps.names.migrations}.file_hash`));
}

/** Reads only: on a database pgkeel never touched, every migration is pending. `applied`: the rows, when already read. */
export async function migrationStatus(deps: PhaseContext, files: readonly MigrationFile[], applied?: readonly AppliedMigration[]): Promise<MigrationStatus[]> {
  return compare(files, applied ?? (await appliedRows(deps)));
}

/** The pending files, in order (always loaded: only applied files are left unread). */
export function pendingOf(files: readonly MigrationFile[], status: readonly MigrationStatus[]): Migration[] {
  const pending = new Set(status.filter((s) => s.state === "pending").map((s) => s.name));
  return loaded(files).filter((f) => pending.has(f.name));
}

/**
 * Applies pending migrations in name order, after refusing drift (SPEC guarantee 7).
 * `recorded`: the tracking rows the files were loaded against (read just before, so not read twice).
 */
export async function migrate(deps: PhaseContext, files: readonly MigrationFile[], opts: MigrateOptions = {}, recorded?: readonly AppliedMigration[]): Promise<MigrateResult> {
  await deps.ready();
  const status = await migrationStatus(deps, files, recorded);
  refuseDrift(status, opts);
  const pending = pendingOf(files, status);
  const { ready: todo, held } = await holdBack(deps, pending);
  // Judged before anything runs, held contract migrations included (SPEC guarantee 10).
  await judgeMigrations(deps.gw, pending, deps.safety, opts.allowUnsafe ?? false, deps.emit);
  deps.emit({ type: "phase", phase: "migrate", pending: todo.length });
  for (const h of held) deps.emit({ type: "held", name: h.name, backfill: h.backfill });
  const applied: string[] = [];
  const skipped: string[] = [];
  const report = (o: Outcome) => {
    (o.by === "this-run" ? applied : skipped).push(o.name);
    deps.emit({ type: "migration-applied", name: o.name, ms: o.ms, by: o.by });
  };
  const names = [...todo, ...held].map((m) => m.name);
  try {
    await noteStop("migrate", names, () => [...applied, ...skipped], () => applyInOrder(deps, todo, report, opts));
  } catch (e) {
    // A failure leaves what this run applied before it applied: the error says which.
    if (e instanceof PgkeelError && !(e instanceof StoppedError)) e.applied = [...applied];
    throw e;
  }
  return { applied, skipped, held };
}

async function applyInOrder(deps: PhaseContext, todo: readonly Migration[], report: (o: Outcome) => void, opts: MigrateOptions): Promise<void> {
  if (!todo.length) return;
  // Loaded only with something to apply: a deploy with nothing to do never needs them.
  const [{ applyBatch, nextBatch }, { applyMigration }] = await Promise.all([import("./batch.js"), import("./apply.js")]);
  for (let i = 0; i < todo.length; ) {
    const batch = nextBatch(todo, i);
    for (const m of batch.length ? batch : [todo[i]!]) deps.emit({ type: "migration-start", name: m.name, transactional: m.transactional });
    if (batch.length) {
      // Reported as each commits: those before a failing one are applied, and said so.
      await applyBatch(batch, deps, report);
      i += batch.length;
      continue;
    }
    const m = todo[i++]!;
    const t = performance.now();
    const outcome = await applyMigration(m, deps, opts);
    report({ name: m.name, by: outcome === "applied" ? "this-run" : "another-runner", ms: Math.round(performance.now() - t) });
  }
}

export function refuseDrift(status: readonly MigrationStatus[], opts: MigrateOptions): void {
  const problems: string[] = [];
  const changed = status.filter((s) => s.state === "changed");
  const missing = status.filter((s) => s.state === "missing");
  const early = status.filter((s) => s.state === "pending" && s.outOfOrder);
  if (changed.length && !opts.allowChanged) {
    problems.push(`changed after they were applied: ${changed.map((s) => s.file ?? s.name).join(", ")} (--allow-changed to go on)`);
  }
  if (missing.length && !opts.allowMissing) {
    problems.push(`applied but their files are gone: ${missing.map((s) => s.name).join(", ")} (--allow-missing to go on)`);
  }
  if (early.length && !opts.allowOutOfOrder) {
    problems.push(`new but sorting before the last applied migration: ${early.map((s) => s.file ?? s.name).join(", ")} (--allow-out-of-order to apply them)`);
  }
  if (problems.length) throw new DriftError(`refusing to migrate: migrations ${problems.join("; ")}`);
}

/** One line of `plan`: a statement that would run. */
export interface PlannedStatement {
  readonly migration: string;
  readonly file: string;
  readonly line: number;
  readonly kind: string;
  readonly transactional: boolean;
  /** The locks it takes, on which tables: `SHARE ROW EXCLUSIVE on user_, ACCESS EXCLUSIVE on orders (new)`. */
  readonly lock: string;
  /** One line per finding (`rule: message`) and notes such as an unanalysed code migration. */
  readonly warnings: readonly string[];
  readonly sql: string;
  /** Safety findings (SPEC guarantee 10), with lock, table size and safe alternative. */
  readonly findings?: readonly Finding[];
  /** Sessions that would block this statement right now: conflicting locks held or queued, or, for a concurrent build, open transactions. */
  readonly blockedBy?: readonly Blocker[];
}

/** The pending migrations' statements with their locks, findings and, from the live database, the sessions in their way. */
export async function planMigrations(deps: PhaseContext, files: readonly MigrationFile[], status: readonly MigrationStatus[]): Promise<PlannedStatement[]> {
  const waiting = new Map(status.filter((s) => s.waitingOn).map((s) => [s.name, `waits for backfill ${s.waitingOn}: run applies it once that backfill is done`]));
  const todo = pendingOf(files, status);
  if (!todo.length) return [];
  const { analyze } = await import("../../safety/analyze.js");
  const { sessionsNow, blockersOf } = await import("../../safety/blockers.js");
  const analysis = await analyze(todo, deps.gw, deps.safety);
  const oids = [...new Set(analysis.statements.flatMap((st) => (st.locks ?? []).flatMap((l) => (l.oid === undefined || l.isNew ? [] : [l.oid]))))];
  const now = await sessionsNow(deps.gw, oids);
  const out: PlannedStatement[] = [];
  for (const m of todo) {
    const held = waiting.has(m.name) ? [waiting.get(m.name)!] : [];
    if (m.kind === "code") {
      out.push({ migration: m.name, file: m.file, line: 1, kind: "code migration", transactional: true, lock: "depends on the code", warnings: [...held, "not analysed: a code migration's SQL is only known when it runs"], sql: "up(db)", findings: [] });
      continue;
    }
    m.statements.forEach((s, index) => {
      const locks = analysis.statements.find((st) => st.migration === m.name && st.index === index)?.locks;
      const findings = analysis.findings.filter((f) => f.migration === m.name && f.statement === index);
      const concurrentBuild = (s.kind === "IndexStmt" || s.kind === "ReindexStmt") && (locks ?? []).some((l) => l.mode === "SHARE UPDATE EXCLUSIVE");
      const blockedBy = [
        ...(locks ?? []).flatMap((l) => (l.oid === undefined || l.isNew ? [] : blockersOf(now, l.oid, l.mode))),
        ...(concurrentBuild ? now.openTransactions : []),
      ].filter((b, i, all) => all.findIndex((x) => x.pid === b.pid && x.mode === b.mode) === i);
      out.push({
        migration: m.name,
        file: m.file,
        line: s.line,
        kind: s.kind,
        transactional: m.transactional,
        lock: locks === undefined ? "depends on the statement" : locks.length ? locks.map((l) => `${l.mode} on ${l.table}${l.isNew ? " (new)" : ""}`).join(", ") : "none on tables",
        warnings: [...held, ...findings.map((f) => `${f.rule}: ${f.message}`)],
        sql: s.text,
        findings,
        blockedBy,
      });
    });
  }
  return out;
}
