import type { AppliedMigration } from "../../state/migrations.js";
import type { MigrationFile } from "./migration.js";

export type MigrationState = "applied" | "pending" | "changed" | "missing";

export interface MigrationStatus {
  readonly name: string;
  readonly state: MigrationState;
  readonly file?: string;
  readonly appliedAt?: string;
  /** Pending, but sorts before the last applied migration. */
  readonly outOfOrder?: boolean;
  /** Pending, held back until this backfill is done (`-- pgkeel:after-backfill`). */
  readonly waitingOn?: string;
}

/** Compares files with tracking rows (SPEC guarantee 7). */
export function compare(files: readonly MigrationFile[], applied: readonly AppliedMigration[]): MigrationStatus[] {
  const byName = new Map(applied.map((a) => [a.name, a]));
  const fileNames = new Set(files.map((f) => f.name));
  const lastApplied = applied.reduce<string | undefined>((max, a) => (max === undefined || byteLess(max, a.name) ? a.name : max), undefined);
  const out: MigrationStatus[] = files.map((f) => {
    const a = byName.get(f.name);
    if (!a) return { name: f.name, file: f.file, state: "pending", outOfOrder: lastApplied !== undefined && byteLess(f.name, lastApplied) };
    return { name: f.name, file: f.file, state: a.checksum === f.checksum ? "applied" : "changed", appliedAt: a.appliedAt.toISOString() };
  });
  for (const a of applied) {
    if (!fileNames.has(a.name)) out.push({ name: a.name, state: "missing", appliedAt: a.appliedAt.toISOString() });
  }
  return out.sort((x, y) => Buffer.compare(Buffer.from(x.name), Buffer.from(y.name)));
}

function byteLess(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0;
}
