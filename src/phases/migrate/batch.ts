import { DatabaseError } from "../../errors.js";
import { isStatementModeRefusal } from "../../gateway/classify.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { appliedAmong } from "../../state/migrations.js";
import type { PhaseContext } from "../context.js";
import { failedSpan, placeAt, placeError } from "./locate.js";
import type { Migration, SqlMigration } from "./migration.js";
import { alreadyApplied, batchText, type BatchText } from "./sql-text.js";

/** How one migration ended for this run. */
export interface Outcome {
  readonly name: string;
  readonly by: "this-run" | "another-runner";
  /** Time inside its transaction, measured by the server. */
  readonly ms: number;
}

/** Most migrations sent in one message, and most characters. */
export const batchLimits = { migrations: 100, chars: 1_000_000 };

/** The run of transactional SQL migrations starting at `from` that fits in one message (empty if none). */
export function nextBatch(todo: readonly Migration[], from: number): SqlMigration[] {
  const batch: SqlMigration[] = [];
  let chars = 0;
  for (let i = from; i < todo.length; i++) {
    const m = todo[i]!;
    if (m.kind !== "sql" || !m.transactional) break;
    chars += m.source.text.length;
    if (batch.length && (batch.length >= batchLimits.migrations || chars > batchLimits.chars)) break;
    batch.push(m);
  }
  return batch;
}

/**
 * Applies transactional SQL migrations, several in one message: each in its own
 * transaction, with its own lock, check and tracking row, so the message costs
 * one round trip and the guarantees stay per migration. The server stops at the
 * first error; what committed before it (or before a lost connection) is read
 * back from the tracking rows, and only the rest is sent again. `onOutcome` hears
 * of each migration as soon as it is known committed, also before a failure.
 */
export async function applyBatch(batch: readonly SqlMigration[], c: PhaseContext, onOutcome: (o: Outcome) => void = () => {}): Promise<Outcome[]> {
  const done = new Map<string, Outcome>();
  let remaining = [...batch];
  let lastSent: BatchText | undefined;
  const settle = (rows: Map<string, { by: string | null; durationMs: number }>) => {
    for (const m of remaining) {
      const row = rows.get(m.name);
      if (!row || done.has(m.name)) continue;
      const o: Outcome = { name: m.name, by: row.by === c.claims.owner ? "this-run" : "another-runner", ms: row.durationMs };
      done.set(m.name, o);
      onOutcome(o);
    }
    remaining = remaining.filter((m) => !done.has(m.name));
  };
  const readBack = async (ctx: UnitContext) => settle(await appliedAmong(ctx, c.names, remaining.map((m) => m.name)));
  // Set once a statement-mode pooler refused a message: then one implicit transaction a message.
  let implicit = false;
  // Set when the server refused a whole message while parsing it: the migrations before
  // the one it named are applied (as psql would, file by file), then its error is reported.
  let refused: { at: SqlMigration; error: DatabaseError } | undefined;
  const sendable = () => (refused ? remaining.slice(0, remaining.indexOf(refused.at)) : remaining);

  while (remaining.length) {
    if (refused && !sendable().length) throw refused.error;
    try {
      await c.gw.executeWithRetry({
        name: unitName(sendable()),
        run: async (ctx) => {
          // A retried message (after a lock timeout, say) may have committed its first migrations.
          if (ctx.attempt > 1) await readBack(ctx);
          if (!sendable().length) return;
          lastSent = batchText(sendable(), c, implicit);
          const results = await ctx.query(lastSent.text);
          settle(
            new Map(
              results.flatMap((r) => r.rows).filter((row) => "pgkeel_applied" in row)
                .map((row) => [String(row.pgkeel_applied), { by: c.claims.owner, durationMs: Number(row.duration_ms) }]),
            ),
          );
        },
        resolve: async (ctx) => {
          await readBack(ctx);
          return sendable().length ? { outcome: "not-committed" } : { outcome: "committed", value: undefined };
        },
      });
    } catch (e) {
      if (!implicit && isStatementModeRefusal(e)) {
        // The pooler hid what the server said: send the rest in the form it passes, to hear it.
        await c.gw.executeWithRetry({ name: "read back applied migrations", run: readBack });
        implicit = true;
        continue;
      }
      if (!(e instanceof DatabaseError)) throw e;
      await c.gw.executeWithRetry({ name: "read back applied migrations", run: readBack });
      // Another runner applied the next one first: carry on with the rest.
      if (e.sqlstate === alreadyApplied) continue;
      const failed = remaining[0];
      if (!failed) throw e;
      const found = lastSent && failedSpan(e, lastSent);
      if (found && found.span.migration !== failed && remaining.includes(found.span.migration)) {
        // The error names a later migration while the earlier ones did not commit: nothing ran.
        refused = { at: found.span.migration, error: placeAt(e, found) };
        continue;
      }
      throw found?.span.migration === failed ? placeAt(e, found) : await placeError(e, failed, c);
    }
  }
  return batch.map((m) => done.get(m.name)!);
}

function unitName(ms: readonly Migration[]): string {
  return ms.length === 1 ? ms[0]!.name : `${ms[0]!.name} .. ${ms[ms.length - 1]!.name} (${ms.length} migrations)`;
}

