import { DriftError } from "../../errors.js";
import { isBlockingIndexBuild, isDataChange, lockTaken, mayRewriteTable } from "../../sql/classify.js";
import { readApplied } from "../../state/migrations.js";
import type { PhaseContext } from "../context.js";
import { noteStop } from "../stop.js";
import { holdBack, type Held } from "./after-backfill.js";
import { applyMigration } from "./apply.js";
import { applyBatch, batchLimits, type Outcome } from "./batch.js";
import { compare, type MigrationStatus } from "./drift.js";
import type { Migration, SqlMigration } from "./migration.js";

export interface MigrateOptions {
  /** Apply even though an applied migration's file changed. */
  readonly allowChanged?: boolean;
  /** Apply even though an applied migration's file is gone. */
  readonly allowMissing?: boolean;
  /** Apply a new migration that sorts before the last applied one. */
  readonly allowOutOfOrder?: boolean;
}

export interface MigrateResult {
  /** Applied by this run, in order. */
  readonly applied: readonly string[];
  /** Found applied by another runner while this one waited. */
  readonly skipped: readonly string[];
  /** Pending but held back until a backfill is done (`-- pgkeel:after-backfill`); `run` applies them after it. */
  readonly held: readonly Held[];
}


/** Reads only: on a database pgkeel never touched, every migration is pending. */
export async function migrationStatus(deps: PhaseContext, files: readonly Migration[]): Promise<MigrationStatus[]> {
  const tracked = await deps.stateHas(deps.names.migrations);
  return compare(files, tracked ? await readApplied(deps.gw, deps.names) : []);
}

/** Applies pending migrations in name order, after refusing drift (SPEC guarantee 7). */
export async function migrate(deps: PhaseContext, files: readonly Migration[], opts: MigrateOptions = {}): Promise<MigrateResult> {
  await deps.ready();
  const status = await migrationStatus(deps, files);
  refuseDrift(status, opts);
  const pending = new Set(status.filter((s) => s.state === "pending").map((s) => s.name));
  const { ready: todo, held } = await holdBack(deps, files.filter((f) => pending.has(f.name)));
  deps.emit({ type: "phase", phase: "migrate", pending: todo.length });
  for (const h of held) deps.emit({ type: "held", name: h.name, backfill: h.backfill });
  const applied: string[] = [];
  const skipped: string[] = [];
  const report = (o: Outcome) => {
    (o.by === "this-run" ? applied : skipped).push(o.name);
    deps.emit({ type: "migration-applied", name: o.name, ms: o.ms, by: o.by });
  };
  const names = [...todo, ...held].map((m) => m.name);
  await noteStop("migrate", names, () => [...applied, ...skipped], () => applyInOrder(deps, todo, report));
  return { applied, skipped, held };
}

async function applyInOrder(deps: PhaseContext, todo: readonly Migration[], report: (o: Outcome) => void): Promise<void> {
  for (let i = 0; i < todo.length; ) {
    const batch = nextBatch(todo, i);
    for (const m of batch.length ? batch : [todo[i]!]) deps.emit({ type: "migration-start", name: m.name, transactional: m.transactional });
    if (batch.length) {
      for (const o of await applyBatch(batch, deps)) report(o);
      i += batch.length;
      continue;
    }
    const m = todo[i++]!;
    const t = performance.now();
    const outcome = await applyMigration(m, deps);
    report({ name: m.name, by: outcome === "applied" ? "this-run" : "another-runner", ms: Math.round(performance.now() - t) });
  }
}

/** The run of transactional SQL migrations starting at `from` that fits in one message (empty if none). */
export function nextBatch(todo: readonly Migration[], from: number): SqlMigration[] {
  const batch: SqlMigration[] = [];
  let chars = 0;
  for (let i = from; i < todo.length; i++) {
    const m = todo[i]!;
    if (m.kind !== "sql" || !m.transactional) break;
    chars += m.source.text.length;
    if (batch.length && (batch.length >= batchLimits.migrations || chars > batchLimits.chars)) break;
    batch.push(m);
  }
  return batch;
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
  readonly lock: string;
  readonly warnings: readonly string[];
  readonly sql: string;
}

export function planMigrations(files: readonly Migration[], status: readonly MigrationStatus[]): PlannedStatement[] {
  const pending = new Set(status.filter((s) => s.state === "pending").map((s) => s.name));
  const waiting = new Map(status.filter((s) => s.waitingOn).map((s) => [s.name, `waits for backfill ${s.waitingOn}: run applies it once that backfill is done`]));
  const out: PlannedStatement[] = [];
  for (const m of files) {
    if (!pending.has(m.name)) continue;
    const held = waiting.has(m.name) ? [waiting.get(m.name)!] : [];
    if (m.kind === "code") {
      out.push({ migration: m.name, file: m.file, line: 1, kind: "code migration", transactional: true, lock: "depends on the code", warnings: held, sql: "up(db)" });
      continue;
    }
    for (const s of m.statements) {
      const warnings: string[] = [...held];
      if (isDataChange(s)) warnings.push("changes data inside a migration: consider a backfill");
      if (isBlockingIndexBuild(s)) warnings.push("index built without CONCURRENTLY blocks writes: declare it in the indexes phase");
      if (mayRewriteTable(s)) warnings.push("may rewrite the whole table under an ACCESS EXCLUSIVE lock");
      out.push({ migration: m.name, file: m.file, line: s.line, kind: s.kind, transactional: m.transactional, lock: lockTaken(s), warnings, sql: s.text });
    }
  }
  return out;
}
