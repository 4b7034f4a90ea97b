import { raiseIf } from "../../state/guard.js";
import { quoteLiteral } from "../../state/quote.js";
import { setLocal } from "../session-settings.js";
import { openTransaction, waitForMigrateLock } from "../transaction.js";
import type { Statement } from "../../sql/split.js";
import type { PhaseContext } from "../context.js";
import { sentText, type Migration, type SqlMigration } from "./migration.js";

/** SQLSTATE pgkeel raises inside a migration's transaction when another runner applied it first. */
export const alreadyApplied = "PGK01";

/**
 * The start of a migration's transaction. Runners queue on a transaction-level
 * advisory lock (no lock_timeout or statement_timeout on that wait: the holder is
 * applying a migration, and its lock ends with its transaction even if it dies),
 * then the transaction checks that no runner applied this migration meanwhile.
 *
 * `implicit`: no BEGIN; the message holds this one transaction and no COMMIT
 * (see batchText).
 */
export function transactionHeaderStatements(m: Migration, c: PhaseContext, implicit = false): string[] {
  return [
    ...openTransaction(c, implicit),
    ...waitForMigrateLock(c),
    // The migration's own time starts once it holds the lock: now() is the start of the whole message.
    `SELECT set_config(${quoteLiteral(startedSetting)}, extract(epoch FROM clock_timestamp())::text, true)`,
    // The file's limits (else the configured lock timeout and the session's statement timeout) from here on.
    ...setLocal({ lock_timeout: m.directives.lockTimeout ?? c.lockTimeout, statement_timeout: m.directives.statementTimeout }),
    raiseIf(m.name, `EXISTS (SELECT 1 FROM ${c.names.migrations} WHERE name = ${quoteLiteral(m.name)})`, alreadyApplied, "migration already applied by another runner"),
  ];
}

export function transactionHeader(m: Migration, c: PhaseContext, implicit = false): string {
  return [...transactionHeaderStatements(m, c, implicit), ""].join(";\n");
}

/** Transaction-local: when the migration's own time began, in epoch seconds (text, whatever the session's DateStyle). */
const startedSetting = "pgkeel.started";

export function trackingInsert(m: Migration, c: PhaseContext, transactional: boolean): string {
  // Without a header (a no-transaction migration's row) the time is the insert's own.
  const started = `coalesce(nullif(current_setting(${quoteLiteral(startedSetting)}, true), '')::numeric, extract(epoch FROM clock_timestamp()))`;
  return `INSERT INTO ${c.names.migrations} (name, checksum, file_hash, transactional, duration_ms, applied_by)
VALUES (${quoteLiteral(m.name)}, ${quoteLiteral(m.checksum)}, ${quoteLiteral(m.fileHash)}, ${transactional}, ((extract(epoch FROM clock_timestamp()) - ${started}) * 1000)::int, ${quoteLiteral(c.claims.owner)})`;
}

/** The tracking row of a no-transaction migration, written after its last statement. */
export function stepwiseTracking(m: Migration, c: PhaseContext): string {
  return `${trackingInsert(m, c, false)} ON CONFLICT (name) DO NOTHING`;
}

/** One statement of a message: a migration's own (`stmt`) or pgkeel's around it. */
export interface Span {
  /** Character offset of the statement in the message. */
  readonly at: number;
  readonly migration: SqlMigration;
  /** The file's statement; absent for pgkeel's (header, tracking row, COMMIT). */
  readonly stmt?: Statement;
}

export interface BatchText {
  readonly text: string;
  /** Every statement of the message in order: the n-th statement to complete is spans[n - 1]. */
  readonly spans: readonly Span[];
}

/**
 * Migrations as one message; `spans` maps server error positions, and counts of
 * completed statements, back to files.
 *
 * `implicit`: for a statement-mode pooler, which closes a client whose message
 * ends inside a transaction, so that a failed migration reaches pgkeel as the
 * pooler's 08P01 instead of the server's own error. Then the message holds the
 * first migration alone, without BEGIN and COMMIT: the server runs it as one
 * implicit transaction, rolls it back on an error and ends the message idle.
 * (Several transactions in one message need COMMITs, which in an implicit
 * transaction each log a warning on the server, so this is not the default.)
 */
export function batchText(ms: readonly SqlMigration[], c: PhaseContext, implicit = false): BatchText {
  let text = "";
  const spans: Span[] = [];
  const add = (migration: SqlMigration, sql: string, stmt?: Statement) => {
    spans.push({ at: text.length, migration, ...(stmt && { stmt }) });
    text += sql;
  };
  for (const m of implicit ? ms.slice(0, 1) : ms) {
    for (const h of transactionHeaderStatements(m, c, implicit)) add(m, `${h};\n`);
    // The newline ends a trailing line comment before the semicolon.
    m.statements.forEach((stmt, i) => add(m, `${sentText(m, i)}\n;\n`, stmt));
    add(m, `${trackingInsert(m, c, true)} RETURNING name AS pgkeel_applied, duration_ms;\n`);
    if (!implicit) add(m, "COMMIT;\n");
  }
  return { text, spans };
}
