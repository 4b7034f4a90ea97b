import { quoteLiteral } from "../state/quote.js";
import { xactLock } from "../state/schema.js";
import type { PhaseContext } from "./context.js";

/**
 * How every transaction pgkeel opens (its own bookkeeping, a migration, a backfill
 * batch) starts: it states its isolation level, so a
 * database or role default such as `repeatable read` cannot freeze a snapshot taken
 * before the lock wait, and it limits how long it may sit idle, so a holder that
 * hangs (a code migration whose promise never settles, a process stopped with
 * SIGSTOP) is cut off by the server and the runners queued behind it go on.
 *
 * `implicit`: the message is one implicit transaction (no BEGIN), for a
 * statement-mode pooler or a message that must commit whole.
 */
export function openTransaction(c: Pick<PhaseContext, "idleTimeout">, implicit = false): string[] {
  return [
    implicit ? "SET TRANSACTION ISOLATION LEVEL READ COMMITTED" : "BEGIN ISOLATION LEVEL READ COMMITTED",
    `SET LOCAL idle_in_transaction_session_timeout = ${quoteLiteral(c.idleTimeout)}`,
  ];
}

/**
 * A one-message read of the user's table (an implicit transaction): READ COMMITTED
 * stated, and a wait for the table's lock limited to `lockTimeout`.
 */
export function implicitUnderLockTimeout(lockTimeout: string): string[] {
  return ["SET TRANSACTION ISOLATION LEVEL READ COMMITTED", `SET LOCAL lock_timeout = ${quoteLiteral(lockTimeout)}`];
}

/**
 * Waiting behind another runner is never an error, whatever the role's or the
 * database's `lock_timeout` and `statement_timeout`: both off until the work's own
 * limits are set after the wait.
 */
export const unlimitedWait = ["SET LOCAL lock_timeout = 0", "SET LOCAL statement_timeout = 0"];

/** Queues on pgkeel's migrate lock (transaction-level: it ends with the transaction, even if the runner dies). */
export function waitForMigrateLock(c: Pick<PhaseContext, "names">): string[] {
  return [...unlimitedWait, xactLock(c.names.schema, "migrate")];
}
