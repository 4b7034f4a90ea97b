import type { AllowDirective, Directives } from "../../sql/directives.js";
import type { Statement } from "../../sql/split.js";
import type { SourceText } from "../../sql/text.js";
import type { MigrationDb } from "./code-db.js";

interface Base {
  readonly name: string;
  /** Path relative to the project, for messages. */
  readonly file: string;
  readonly checksum: string;
  /** Hash of the checksum and the file's bytes (sql/checksum.ts fileHash): recorded when applied, so an unchanged file need not be loaded again. */
  readonly fileHash: string;
}

export interface SqlMigration extends Base {
  readonly kind: "sql";
  readonly source: SourceText;
  readonly statements: readonly Statement[];
  readonly directives: Directives;
  /** `-- pgkeel:allow <rule-id> <reason>` directives: safety findings judged acceptable. */
  readonly allows: readonly AllowDirective[];
  /** False when a statement cannot run in a transaction block, or `pgkeel:no-transaction` says so. */
  readonly transactional: boolean;
  /** By statement index: the text sent instead of a plain SET or RESET, made local to its transaction (see sql/local-set.ts). */
  readonly localSets?: ReadonlyMap<number, string>;
}

/** The text pgkeel sends for statement `i` of `m`. */
export function sentText(m: SqlMigration, i: number): string {
  return m.localSets?.get(i) ?? m.statements[i]!.text;
}

export interface CodeMigration extends Base {
  readonly kind: "code";
  readonly up: (db: MigrationDb) => Promise<unknown>;
  readonly transactional: true;
  readonly directives: Directives;
}

/** A loaded file: parsed and validated (SQL) or imported (code). */
export type Migration = SqlMigration | CodeMigration;

/**
 * An applied migration whose file has the very bytes recorded when it was
 * applied: it was validated then, so it is neither parsed nor imported again.
 * Its checksum is the recorded one.
 */
export interface UnchangedMigration extends Base {
  readonly kind: "unchanged";
}

/** What the migrations folder holds: loaded files, and applied ones left unread. */
export type MigrationFile = Migration | UnchangedMigration;

/** The loaded ones (every pending file is loaded). */
export function loaded(files: readonly MigrationFile[]): Migration[] {
  return files.filter((f): f is Migration => f.kind !== "unchanged");
}
