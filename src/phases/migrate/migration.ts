import type { AllowDirective, Directives } from "../../sql/directives.js";
import type { Statement } from "../../sql/split.js";
import type { SourceText } from "../../sql/text.js";
import type { MigrationDb } from "./code-db.js";

interface Base {
  readonly name: string;
  /** Path relative to the project, for messages. */
  readonly file: string;
  readonly checksum: string;
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

export type Migration = SqlMigration | CodeMigration;
