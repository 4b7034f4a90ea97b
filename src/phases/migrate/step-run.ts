import { DatabaseError } from "../../errors.js";
import { classify } from "../../gateway/classify.js";
import { claimLost } from "../../state/claims.js";
import { clearStartedStep, markStepDone, readStepRows, stepTaken, type StepRow } from "../../state/steps.js";
import { sessionTimeouts, withSessionSettings } from "../session-settings.js";
import { indexOf, judgeInFlight, label, settleStepIndex, type Step } from "./step-judge.js";
import { stepRecordText, stepTimeouts, stepTransactionText } from "./step-sql.js";
import { placeError } from "./locate.js";

/** PostgreSQL refused the statement in a transaction block (25001), or it tried to commit inside one (2D000). */
const refusedInBlock = new Set(["25001", "2D000"]);

/**
 * Runs the statement in a transaction of its own that first proves the claim (the
 * fence) and records the step done: both commit together or not at all, so the
 * step is applied exactly once and its outcome is never unknown. A runner behind
 * another's uncommitted step waits for it (no timeout on that wait), then finds the
 * step "taken" (PGK04). "alone" when PostgreSQL refuses the statement in a block;
 * "earlier" when a lost COMMIT turns out to have been another runner's step.
 */
export async function runInTransaction(s: Step, row: StepRow | undefined): Promise<"this-run" | "earlier" | "taken" | "alone"> {
  const { m, c } = s;
  const { head, text } = stepTransactionText(s, row?.startedBy);
  try {
    return await c.gw.executeWithRetry<"this-run" | "earlier">({
      name: label(s),
      run: async (ctx) => {
        await ctx.query(text);
        return "this-run" as const;
      },
      // A lost COMMIT: the step row committed with the statement, or neither did.
      resolve: async (ctx) => {
        const now = (await readStepRows(ctx, c.names, m.name, s.i)).get(s.i);
        return now?.done ? { outcome: "committed", value: now.startedBy === s.claim.owner ? "this-run" : "earlier" } : { outcome: "not-committed" };
      },
    });
  } catch (e) {
    if (!(e instanceof DatabaseError) || e.sqlstate === claimLost) throw e;
    if (e.sqlstate === stepTaken) return "taken";
    if (e.sqlstate && refusedInBlock.has(e.sqlstate)) return "alone";
    throw await placeError(shifted(e, head), m, c, { stmt: s.stmt });
  }
}

/**
 * Runs a statement PostgreSQL refuses in a transaction block: marks it started in
 * a fenced transaction, sends it alone, marks it done. The claim is checked again
 * right before sending. A failure the server reports clears the mark (the statement
 * did not take effect, and a fixed file may run it); a lost connection is judged
 * from the catalog, or by waiting while the statement still runs.
 */
export async function runAlone(s: Step, row: StepRow | undefined): Promise<"this-run" | "earlier" | "taken"> {
  const { m, c, stmt } = s;
  const index = indexOf(stmt);
  const where = `${m.file}:${stmt.line}`;
  let sent = false;
  let finished = false;
  try {
    return await c.gw.executeWithRetry<"this-run" | "earlier">({
      name: label(s),
      run: async (ctx) => {
        // An index valid on its own table is built: by this run's statement if it was sent
        // (a retry after a lost connection), else before this run. An INVALID leftover is dropped.
        if (!finished && index && (await settleStepIndex(ctx, s, index)) === "valid") {
          if (!sent) {
            await record(ctx, s, row, true);
            return "earlier" as const;
          }
          finished = true;
        }
        if (!finished) {
          const settings = await sessionTimeouts(ctx, c, stepTimeouts(s, false), where);
          if (!sent) await record(ctx, s, row, false);
          s.claim.check();
          await withSessionSettings(ctx, settings, async () => {
            sent = true;
            // An error the server reports means the statement did not take effect; only a
            // lost connection leaves its outcome open.
            await ctx.query(stmt.text).catch((e: unknown) => {
              if (classify(e).kind !== "connection") sent = false;
              throw e;
            });
          });
          finished = true;
        }
        await markStepDone(ctx, c.names, m.name, s.i);
        return "this-run" as const;
      },
      resolve: async (ctx) => {
        if (!sent) return { outcome: "not-committed" };
        if (finished || (await judgeInFlight(ctx, s)) === "done") {
          await markStepDone(ctx, c.names, m.name, s.i);
          return { outcome: "committed", value: "this-run" };
        }
        sent = false;
        return { outcome: "not-committed" };
      },
    });
  } catch (e) {
    if (e instanceof DatabaseError && e.sqlstate === stepTaken) return "taken";
    if (e instanceof DatabaseError && e.sqlstate === claimLost) throw e;
    // Refused before it was sent, or failed for certain: forget the mark.
    if (!sent) {
      await c.gw
        .executeWithRetry({
          name: `clear ${label(s)}`,
          run: async (ctx) => {
            if (index) await settleStepIndex(ctx, s, index);
            await clearStartedStep(ctx, c.names, m.name, s.i, s.claim.owner);
          },
        })
        .catch(() => {});
    }
    throw e instanceof DatabaseError ? await placeError(e, m, c, { stmt }) : e;
  }
}

/** The fenced record: the claim is still ours and the step is started (or done), in one transaction. */
async function record(ctx: { query(text: string): Promise<unknown> }, s: Step, row: StepRow | undefined, done: boolean): Promise<void> {
  await ctx.query(stepRecordText(s, row?.startedBy, done));
}

/** The error with its position made relative to the statement, not the message around it. */
function shifted(e: DatabaseError, head: string): DatabaseError {
  const pos = e.details.position;
  if (pos === undefined) return e;
  const offset = [...head].length;
  return new DatabaseError(e.sqlstate, e.serverMessage, { ...e.details, position: pos > offset ? pos - offset : undefined });
}
