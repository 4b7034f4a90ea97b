import type { Statement } from "../sql/split.js";

/** PostgreSQL's table lock modes, weakest first (the order of its lock.h). */
export const lockModes = [
  "ACCESS SHARE",
  "ROW SHARE",
  "ROW EXCLUSIVE",
  "SHARE UPDATE EXCLUSIVE",
  "SHARE",
  "SHARE ROW EXCLUSIVE",
  "EXCLUSIVE",
  "ACCESS EXCLUSIVE",
] as const;
export type LockMode = (typeof lockModes)[number];

/** A table as the SQL names it: identifiers unquoted, schema only when written. */
export interface TableName {
  readonly schema?: string;
  readonly name: string;
}

export interface TableLock {
  readonly table: TableName;
  readonly mode: LockMode;
}

/** What happens to the table's rows while the lock is held: copied, read through, written row by row, or nothing. */
export type Effect = "rewrite" | "scan" | "rows" | "none";

/** What the database (or the run so far) tells about a table at one statement. */
export interface TableFacts {
  /**
   * new: created earlier in this run (blocks nobody); existing: in the database;
   * missing: neither (the statement would fail); unknown: no database to ask.
   */
  readonly state: "new" | "existing" | "missing" | "unknown";
  /** Estimated rows: pg_class.reltuples, or counted up to the threshold when the estimate is small or absent. */
  readonly rows?: number;
  /** True when `rows` is a floor: the count stopped at the threshold. */
  readonly rowsAtLeast?: boolean;
  /** From pg_class.relpages (no lock taken). */
  readonly bytes?: number;
}

export type RuleLevel = "error" | "warning";

/** One thing a rule caught in one statement. */
export interface Match {
  /** The table whose size decides the risk; none for statements without one (a session SET). */
  readonly table?: TableName;
  /** Every table the operation locks, with the mode (a foreign key locks the referenced table too). */
  readonly locks: readonly TableLock[];
  readonly effect: Effect;
  /** One sentence: what goes wrong, in the user's names. */
  readonly message: string;
  /** The safe alternative, ready to paste, in the user's names. */
  readonly fix: string;
  /**
   * Whether the risk comes from holding the lock over the table's rows (a rewrite,
   * a scan, an index build, a data change): such a match on an empty table is no risk.
   * False for changes that break running clients whatever the size (a rename, a drop).
   */
  readonly sizeMatters: boolean;
}

/**
 * A safety rule: a small, data-like object. `check` reads the statement's parse
 * tree (never its text) and the context, and returns what it caught.
 */
export interface Rule {
  /** Stable kebab-case id, used by `-- pgkeel:allow <id> <reason>` and in the config. */
  readonly id: string;
  readonly level: RuleLevel;
  /** Style rules: off unless the config's `safety.rules` turns them on. */
  readonly hygiene?: boolean;
  /** One line for the README and SARIF. */
  readonly summary: string;
  /** The lock it takes, on which tables, for the README. */
  readonly lock: string;
  readonly check: (s: Statement, ctx: StatementContext) => readonly Match[];
  /**
   * Proof, run on a real server by tests/safety/proof.test.ts: `setup` creates
   * and fills `big` (and others), `bad` must be caught and take the claimed lock,
   * `good` (the fix) must not be caught.
   */
  readonly example: { readonly setup?: string; readonly bad: string; readonly good: string };
}

/** What a rule may ask about the world at one statement. */
export interface StatementContext {
  /** server_version_num, e.g. 180001; undefined without a database. */
  readonly serverVersion: number | undefined;
  readonly online: boolean;
  /** The migration runs in one transaction. */
  readonly transactional: boolean;
  table(t: TableName): TableFacts;
  /** The table an index belongs to, when the database knows the index. */
  indexTable(index: TableName): TableName | undefined;
  /** A validated CHECK (column IS NOT NULL) exists, or the column is already NOT NULL. */
  provesNotNull(t: TableName, column: string): boolean;
  /** Whether the default expression is volatile: true, false, or undefined (unknown without a database). */
  isVolatile(expr: unknown): boolean | undefined;
  /** Whether changing the column to the new type rewrites the table, as the server decides; undefined when unknown. */
  typeChangeRewrites(t: TableName, column: string, typeName: unknown, using: unknown): { rewrites: boolean | undefined; from?: string };
  /** The table's single-column primary key, for backfill suggestions. */
  primaryKey(t: TableName): string | undefined;
  /** The type of a constraint added NOT VALID earlier in this same migration (same transaction). */
  addedNotValidHere(t: TableName, constraint: string): string | undefined;
  /** The column's current type in the database (format_type), when known. */
  columnType(t: TableName, column: string): string | undefined;
}

/** A finding: a rule's match, placed in a file and judged against the context. */
export interface Finding {
  readonly rule: string;
  /** error: refuses the run (at or above safety.minRows, or size unknown); warning: reported only. */
  readonly level: RuleLevel;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly migration: string;
  /** Index of the statement in its migration. */
  readonly statement: number;
  readonly table?: string;
  readonly facts?: TableFacts;
  readonly locks: readonly { readonly table: string; readonly mode: LockMode }[];
  readonly effect: Effect;
  readonly message: string;
  readonly fix: string;
  /** The reason from `-- pgkeel:allow`, when the file allows it. */
  readonly allowed?: string;
  readonly sql: string;
}
