import { InputError } from "../../errors.js";
import { stateTableExists } from "../../state/exists.js";
import type { PhaseContext } from "../context.js";
import { listPhaseFiles, type PhaseDir } from "../files.js";
import type { MigrationStatus } from "./drift.js";
import { loaded, type Migration, type MigrationFile } from "./migration.js";

/**
 * Contract migrations (`-- pgkeel:after-backfill NAME`): held back by the migrate
 * phase until that backfill is done. Holding keeps name order: the first held
 * migration holds every pending one after it, so nothing is ever applied out of
 * order and a later deploy's migrations queue behind the contract step.
 */

/** Names of the backfill files, without loading them (what `migrate` alone needs). */
export function backfillNames(dir: PhaseDir, cwd: string): string[] {
  return listPhaseFiles(dir, cwd, [".sql", ".ts", ".js", ".mjs"]).map((f) => f.name);
}

/** A directive naming a backfill that does not exist is bad input (SPEC guarantee 8). */
export function checkAfterBackfill(migrations: readonly MigrationFile[], backfills: readonly string[]): void {
  const known = new Set(backfills);
  // A file left unread holds no such directive (one that does is always loaded).
  for (const m of loaded(migrations)) {
    const d = m.directives.afterBackfill;
    if (d && !known.has(d.name)) {
      const hint = backfills.length ? `known backfills: ${backfills.join(", ")}` : "there are no backfill files";
      throw new InputError({ file: m.file, line: d.line, column: d.column }, `pgkeel:after-backfill names backfill "${d.name}", which does not exist (${hint})`);
    }
  }
}

/** Backfills among `names` that are done (read only: a missing state table means none). */
export async function doneBackfills(c: PhaseContext, names: readonly string[]): Promise<Set<string>> {
  if (!names.length) return new Set();
  if (!(await stateTableExists(c.gw, c.names.backfills))) return new Set();
  const rows = await c.gw.query<{ name: string }>(
    "read finished backfills",
    `SELECT name FROM ${c.names.backfills} WHERE done AND name = ANY ($1::text[])`,
    [names],
  );
  return new Set(rows.map((r) => r.name));
}

export interface Held {
  readonly name: string;
  /** The backfill it, or an earlier held migration, waits on. */
  readonly backfill: string;
}

/** Splits pending migrations (in order) into those that may run now and those held back. */
export async function holdBack(c: PhaseContext, pending: readonly Migration[]): Promise<{ ready: Migration[]; held: Held[] }> {
  const waits = [...new Set(pending.flatMap((m) => (m.directives.afterBackfill ? [m.directives.afterBackfill.name] : [])))];
  const done = await doneBackfills(c, waits);
  const first = pending.findIndex((m) => m.directives.afterBackfill && !done.has(m.directives.afterBackfill.name));
  if (first < 0) return { ready: [...pending], held: [] };
  const backfill = pending[first]!.directives.afterBackfill!.name;
  return {
    ready: pending.slice(0, first),
    held: pending.slice(first).map((m) => ({ name: m.name, backfill: m.directives.afterBackfill && !done.has(m.directives.afterBackfill.name) ? m.directives.afterBackfill.name : backfill })),
  };
}

/** Status entries of held migrations, marked with the backfill they wait on (status and plan show it). */
export async function markWaiting(c: PhaseContext, files: readonly MigrationFile[], status: readonly MigrationStatus[]): Promise<MigrationStatus[]> {
  const pending = new Set(status.filter((s) => s.state === "pending").map((s) => s.name));
  const { held } = await holdBack(c, loaded(files).filter((f) => pending.has(f.name)));
  const waiting = new Map(held.map((h) => [h.name, h.backfill]));
  return status.map((s) => (waiting.has(s.name) ? { ...s, waitingOn: waiting.get(s.name) } : s));
}
