import type { Statement } from "../../sql/split.js";
import type { Claim } from "../../state/claims.js";
import { recordStep, type StepMark } from "../../state/steps.js";
import type { PhaseContext } from "../context.js";
import { setLocal, type Timeouts } from "../session-settings.js";
import { openTransaction, unlimitedWait } from "../transaction.js";
import { sentText, type SqlMigration } from "./migration.js";

/**
 * The messages a step of a non-transactional migration sends, built in one place
 * for the run and for `--dry-run`.
 */
export interface StepText {
  readonly m: SqlMigration;
  /** 0-based index: the step's number in pgkeel's table. */
  readonly i: number;
  readonly stmt: Statement;
  /** Token checksum of the statement. */
  readonly checksum: string;
  readonly claim: Pick<Claim, "fence" | "owner">;
  readonly c: PhaseContext;
}

export function stepMark(s: StepText): StepMark {
  return { migration: s.m.name, step: s.i, fileChecksum: s.m.checksum, statementChecksum: s.checksum, owner: s.claim.owner, session: s.c.claims.session };
}

/**
 * Each message is one implicit transaction (no BEGIN or COMMIT: an error arrives as
 * itself even through a statement-mode pooler) that states its isolation level.
 * Waiting behind another runner's step is never an error: no timeouts until the
 * statement's own.
 */
const noWaitLimits = (s: StepText) => [...openTransaction(s.c, true), ...unlimitedWait];

/**
 * The start of the message a statement runs in with its step row: the fence, the
 * step recorded done, then the statement's own timeouts; the statement follows,
 * and all of it commits together. `takeOver`: the runner whose started mark this replaces.
 */
export function stepTransactionHead(s: StepText, takeOver: string | null | undefined): string {
  return [...noWaitLimits(s), s.claim.fence(), recordStep(s.c.names, stepMark(s), true, takeOver), ...setLocal(stepTimeouts(s, true)), ""].join(";\n");
}

/** The fenced record of a statement run alone: started before it is sent (or done, when the catalog shows it built). */
export function stepRecordText(s: StepText, takeOver: string | null | undefined, done: boolean): string {
  return [...noWaitLimits(s), s.claim.fence(), recordStep(s.c.names, stepMark(s), done, takeOver)].join(";\n");
}

/**
 * The file's lock timeout (else the configured default) and statement timeout
 * (else the session's). Run alone, CONCURRENTLY forms and plain VACUUM get no lock
 * timeout: their locks queue no reads or writes behind them, and a lock timeout
 * would only leave an INVALID index to clean up.
 */
export function stepTimeouts(s: StepText, inTransaction: boolean): Timeouts {
  const lock = s.m.directives.lockTimeout ?? s.c.lockTimeout;
  return {
    lock_timeout: inTransaction || !queuesNoTraffic(s.stmt) ? lock : undefined,
    statement_timeout: s.m.directives.statementTimeout,
  };
}

function queuesNoTraffic(s: Statement): boolean {
  const n = s.node;
  const option = (list: unknown, name: string) => Array.isArray(list) && list.some((p) => (p as { DefElem?: { defname?: string } }).DefElem?.defname === name);
  if (s.kind === "IndexStmt" || s.kind === "DropStmt") return n.concurrent === true;
  if (s.kind === "ReindexStmt") return option(n.params, "concurrently");
  if (s.kind === "VacuumStmt") return !option(n.options, "full");
  return false;
}

/** The whole message of a statement run in a transaction with its step record. */
export function stepTransactionText(s: StepText, takeOver: string | null | undefined): { head: string; text: string } {
  const head = stepTransactionHead(s, takeOver);
  // The newline ends a trailing line comment.
  return { head, text: `${head}${sentText(s.m, s.i)}\n` };
}
