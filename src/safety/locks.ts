import { lockModes, type LockMode, type TableLock, type TableName } from "./types.js";
import { sameTable } from "./sql.js";

/** Which lock modes conflict (PostgreSQL's table-level lock conflict table). */
const conflicts: Record<LockMode, readonly LockMode[]> = {
  "ACCESS SHARE": ["ACCESS EXCLUSIVE"],
  "ROW SHARE": ["EXCLUSIVE", "ACCESS EXCLUSIVE"],
  "ROW EXCLUSIVE": ["SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"],
  "SHARE UPDATE EXCLUSIVE": ["SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"],
  SHARE: ["ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"],
  "SHARE ROW EXCLUSIVE": ["ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"],
  EXCLUSIVE: ["ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"],
  "ACCESS EXCLUSIVE": lockModes,
};

export function lockConflicts(a: LockMode, b: LockMode): boolean {
  return conflicts[a].includes(b);
}

export function strongest(a: LockMode, b: LockMode): LockMode {
  return lockModes.indexOf(a) >= lockModes.indexOf(b) ? a : b;
}

/** pg_locks spells modes `AccessExclusiveLock`; this is `ACCESS EXCLUSIVE`. */
export function fromPgLocksMode(mode: string): LockMode | undefined {
  const words = mode.replace(/Lock$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
  return (lockModes as readonly string[]).includes(words) ? (words as LockMode) : undefined;
}

/** What the commands block while the lock is held, for messages. */
export function blocks(mode: LockMode): string {
  if (mode === "ACCESS EXCLUSIVE") return "blocks all reads and writes";
  if (mode === "EXCLUSIVE" || mode === "SHARE ROW EXCLUSIVE" || mode === "SHARE") return "blocks writes";
  if (mode === "SHARE UPDATE EXCLUSIVE") return "blocks other schema changes and VACUUM, not reads or writes";
  return "blocks little";
}

/** One lock per table, the strongest asked for. */
export function mergeLocks(locks: readonly TableLock[]): TableLock[] {
  const out: TableLock[] = [];
  for (const l of locks) {
    const i = out.findIndex((o) => sameTable(o.table, l.table));
    if (i < 0) out.push(l);
    else out[i] = { table: out[i]!.table, mode: strongest(out[i]!.mode, l.mode) };
  }
  return out;
}

export function lockOn(table: TableName, mode: LockMode): TableLock {
  return { table, mode };
}
