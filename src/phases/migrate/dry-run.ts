import { stateTableExists } from "../../state/exists.js";
import { statementChecksum } from "../../sql/checksum.js";
import { mustRunOutsideTransaction } from "../../sql/classify.js";
import { markStepDoneText, readDoneSteps } from "../../state/steps.js";
import { quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import { holdBack, type Held } from "./after-backfill.js";
import type { AppliedMigration } from "../../state/migrations.js";
import type { Migration, MigrationFile, SqlMigration } from "./migration.js";
import { nextBatch } from "./batch.js";
import { migrationStatus, pendingOf, refuseDrift, type MigrateOptions } from "./phase.js";
import { batchText, stepwiseTracking, trackingInsert, transactionHeader } from "./sql-text.js";
import { stepRecordText, stepTimeouts, stepTransactionText } from "./step-sql.js";

/** One message `migrate` would send: its unit and its text, exactly as built for the real run. */
export interface DryRunMessage {
  readonly unit: string;
  readonly sql: string;
}

export interface MigrateDryRun {
  readonly messages: readonly DryRunMessage[];
  /** Held back until a backfill is done; `run` sends these after it. */
  readonly held: readonly Held[];
  readonly heldMessages: readonly DryRunMessage[];
}

/**
 * What `migrate` would send now, built by the same functions the real run uses
 * (batchText, transactionHeader, trackingInsert, the step messages), so the two cannot
 * drift apart. Reads only: a database without pgkeel's tables has nothing applied.
 */
export async function dryRunMigrate(c: PhaseContext, files: readonly MigrationFile[], opts: MigrateOptions = {}, applied?: readonly AppliedMigration[]): Promise<MigrateDryRun> {
  const status = await migrationStatus(c, files, applied);
  refuseDrift(status, opts);
  const pending = pendingOf(files, status);
  const { ready, held } = await holdBack(c, pending);
  const heldFiles = pending.filter((f) => held.some((h) => h.name === f.name));
  return { messages: await messagesFor(c, ready), held, heldMessages: await messagesFor(c, heldFiles) };
}

async function messagesFor(c: PhaseContext, todo: readonly Migration[]): Promise<DryRunMessage[]> {
  const out: DryRunMessage[] = [];
  for (let i = 0; i < todo.length; ) {
    const batch = nextBatch(todo, i);
    if (batch.length) {
      out.push({ unit: batch.length === 1 ? batch[0]!.name : `${batch[0]!.name} .. ${batch.at(-1)!.name} (${batch.length} migrations, one message)`, sql: batchText(batch, c).text });
      i += batch.length;
      continue;
    }
    const m = todo[i++]!;
    if (m.kind === "code") {
      out.push({ unit: `${m.name} (code migration)`, sql: `${transactionHeader(m, c)}-- up(db) runs here: each db.sql() call is one more message in this transaction\n${trackingInsert(m, c, true)};\nCOMMIT` });
      continue;
    }
    out.push(...(await stepMessages(c, m)));
    out.push({ unit: `${m.name} tracking row`, sql: `${stepwiseTracking(m, c)};` });
  }
  return out;
}

/**
 * A no-transaction migration's steps not done yet, as the run sends them (see
 * step-run.ts): a statement PostgreSQL allows in a transaction goes in one with
 * its fenced step record; one it refuses there is marked started (fenced), sent
 * alone, and marked done. The claim's fencing token is known only when the run
 * takes the claim: shown as <generation>.
 */
async function stepMessages(c: PhaseContext, m: SqlMigration): Promise<DryRunMessage[]> {
  const done = (await stateTableExists(c.gw, c.names.steps))
    ? await c.gw.executeWithRetry({ name: `read steps of ${m.name}`, run: (ctx) => readDoneSteps(ctx, c.names, m.name) })
    : new Set<number>();
  const key = `migration:${m.name}`;
  const claim = { owner: c.claims.owner, fence: () => c.claims.fenceSql(key, "<generation>") };
  const out: DryRunMessage[] = [];
  for (const [i, stmt] of m.statements.entries()) {
    if (done.has(i)) continue;
    const s = { m, i, stmt, checksum: await statementChecksum(stmt.text), claim, c };
    const unit = `${m.name} statement ${i + 1} (${m.file}:${stmt.line}, no transaction, under the migration's claim)`;
    if (!mustRunOutsideTransaction(stmt)) {
      out.push({ unit: `${unit}: in one transaction with its step record`, sql: stepTransactionText(s, undefined).text });
      continue;
    }
    const t = stepTimeouts(s, false);
    const timeouts = [t.lock_timeout && `lock_timeout ${t.lock_timeout}`, t.statement_timeout && `statement_timeout ${t.statement_timeout}`].filter(Boolean);
    out.push({ unit: `${unit}: marked started`, sql: stepRecordText(s, undefined, false) });
    out.push({
      unit: `${unit}: sent alone${timeouts.length ? `, with ${timeouts.join(" and ")} (a session SET before, RESET after, where the session has other values)` : ""}`,
      sql: stmt.text,
    });
    out.push({ unit: `${unit}: marked done`, sql: `${markStepDoneText(c.names)};\n-- with $1 = ${quoteLiteral(m.name)}, $2 = ${i}` });
  }
  return out;
}
