import { stateTableExists } from "../../state/exists.js";
import { readSteps } from "../../state/migrations.js";
import { quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import { holdBack, type Held } from "./after-backfill.js";
import type { Migration } from "./migration.js";
import { migrationStatus, nextBatch, refuseDrift, type MigrateOptions } from "./phase.js";
import { batchText, stepDone, stepwiseTracking, trackingInsert, transactionHeader } from "./sql-text.js";

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
 * (batchText, transactionHeader, trackingInsert, stepDone), so the two cannot
 * drift apart. Reads only: a database without pgkeel's tables has nothing applied.
 */
export async function dryRunMigrate(c: PhaseContext, files: readonly Migration[], opts: MigrateOptions = {}): Promise<MigrateDryRun> {
  const status = await migrationStatus(c, files);
  refuseDrift(status, opts);
  const pending = new Set(status.filter((s) => s.state === "pending").map((s) => s.name));
  const { ready, held } = await holdBack(c, files.filter((f) => pending.has(f.name)));
  const heldFiles = files.filter((f) => held.some((h) => h.name === f.name));
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
    const done = await stepsDone(c, m.name);
    for (const [n, stmt] of m.statements.entries()) {
      if (done.has(n)) continue;
      const timeouts = [m.directives.lockTimeout && `lock_timeout ${m.directives.lockTimeout}`, m.directives.statementTimeout && `statement_timeout ${m.directives.statementTimeout}`].filter(Boolean);
      const record = stepDone(m, n, c);
      out.push({
        unit: `${m.name} statement ${n + 1} (${m.file}:${stmt.line}, no transaction, under the migration's claim)`,
        sql: [
          ...(timeouts.length ? [`-- with ${timeouts.join(" and ")}: a session SET before, RESET after, where the session has other values`] : []),
          stmt.text,
          ";",
          `${record.text};`,
          `-- with ${record.params.map((p, k) => `$${k + 1} = ${typeof p === "string" ? quoteLiteral(p) : String(p)}`).join(", ")}`,
        ].join("\n"),
      });
    }
    out.push({ unit: `${m.name} tracking row`, sql: `${stepwiseTracking(m, c)};` });
  }
  return out;
}

async function stepsDone(c: PhaseContext, migration: string): Promise<Set<number>> {
  return (await stateTableExists(c.gw, c.names.steps)) ? readSteps(c.gw, c.names, migration) : new Set<number>();
}
