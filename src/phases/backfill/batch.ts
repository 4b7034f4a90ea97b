import type { UnitContext } from "../../gateway/gateway.js";
import { claimLost, type Claim } from "../../state/claims.js";
import { doBlock, raiseSql } from "../../state/guard.js";
import { quoteLiteral } from "../../state/quote.js";
import { xactLockCall } from "../../state/schema.js";
import type { PhaseContext } from "../context.js";
import { openTransaction, unlimitedWait } from "../transaction.js";
import { strictApi } from "../strict-api.js";
import type { Backfill, BackfillTx } from "./declared.js";
import { keyLiteral, nextBatchSql, readNextBatch, type Batch, type KeyInfo } from "./keyset.js";
import { rangeClaimKey } from "./ranges.js";

/** SQLSTATE pgkeel raises in a batch when the range's checkpoint moved since the batch was planned. */
export const positionMoved = "PGK02";

/**
 * A batch that ran into statement_timeout or lock_timeout. Thrown out of the
 * gateway as a plain error (not retried there): the worker decides whether to
 * try it again or split it.
 */
export class BatchTimeout extends Error {
  constructor(
    readonly sqlstate: string,
    readonly serverMessage: string,
  ) {
    super(`${serverMessage} (SQLSTATE ${sqlstate})`);
    this.name = "BatchTimeout";
  }
}

const timeouts = new Set(["57014", "55P03"]);

/** What one committed batch tells the worker: the next batch's bounds (planned in the same message) and all workers' rows done. */
export interface BatchOutcome {
  /** False when the outcome was read back after a lost COMMIT: nothing was planned. */
  readonly planned: boolean;
  readonly next: Batch | undefined;
  /** Rows done over every range of the backfill, by every worker. */
  readonly total: number | undefined;
}

export interface BatchPlan {
  readonly b: Backfill;
  readonly key: KeyInfo;
  readonly range: number;
  readonly hi: string | null;
  readonly prev: string | null;
  readonly batch: Batch;
  readonly claim: Claim;
  /** Size of the next batch to plan in the same message. */
  readonly nextSize: number;
  /** SQL only, for a statement-mode pooler: one implicit transaction, no BEGIN/COMMIT. */
  readonly implicit: boolean;
}

/**
 * One batch, one transaction (SPEC guarantee 4), opened like every pgkeel
 * transaction (READ COMMITTED stated, idle_in_transaction_session_timeout set); a
 * transaction-level lock on the range (waited for without a timeout: its holder
 * is another batch, cut off by idle_in_transaction_session_timeout if it hangs);
 * the claim's fence (this worker still holds the range, at its generation); a
 * check that the range's checkpoint has not moved; then the user's limits, the
 * statement, and the checkpoint advance; the next batch's bounds and the rows
 * done overall are read before COMMIT, in the same message, so a SQL batch costs
 * one round trip and one commit.
 */
export async function applyBatch(ctx: UnitContext, c: PhaseContext, p: BatchPlan): Promise<BatchOutcome> {
  const { b, key, range, batch } = p;
  const ranges = c.names.backfillRanges;
  // The checks come first in as few characters as they can: pg_stat_activity shows a
  // message's first 1024 bytes by default, and people look there for the statement.
  const head = [
    ...openTransaction(c, p.implicit),
    ...unlimitedWait,
    doBlock(
      `${b.name}:${range}`,
      [
        `PERFORM ${xactLockCall(c.names.schema, rangeClaimKey(b.name, range))};`,
        `IF ${p.claim.taken()} THEN ${raiseSql(claimLost, "pgkeel: range claim taken over")} END IF;`,
        // Done counts as moved: a worker that listed the range before another finished it walks no further.
        `IF NOT EXISTS (SELECT 1 FROM ${ranges} WHERE backfill = ${quoteLiteral(b.name)} AND range = ${range} AND NOT done AND position IS NOT DISTINCT FROM ${p.prev === null ? "NULL" : quoteLiteral(p.prev)}) THEN ${raiseSql(positionMoved, "pgkeel: checkpoint moved")} END IF;`,
      ].join(" "),
    ),
    `SET LOCAL lock_timeout = ${quoteLiteral(c.lockTimeout)}`,
    "SET LOCAL statement_timeout = DEFAULT",
  ].join(";\n");
  const tail = [
    // The range is done in the batch that leaves no key past its checkpoint: no finishing round trip and commit.
    `UPDATE ${ranges} SET position = ${quoteLiteral(batch.to)}, rows_done = rows_done + ${batch.n}, batches = batches + 1,
        done = NOT EXISTS (SELECT 1 FROM ${key.rel} WHERE ${key.column} > ${keyLiteral(key, batch.to)}${p.hi === null ? "" : ` AND ${key.column} <= ${keyLiteral(key, p.hi)}`})
      WHERE backfill = ${quoteLiteral(b.name)} AND range = ${range}`,
    nextBatchSql(key, { position: batch.to, hi: p.hi }, p.nextSize, [`(SELECT sum(rows_done) FROM ${ranges} WHERE backfill = ${quoteLiteral(b.name)})::text AS total`]),
    ...(p.implicit ? [] : ["COMMIT"]),
  ].join(";\n");
  try {
    let results;
    if (b.kind === "sql") {
      const stmt = b.pieces.map((x) => (typeof x === "string" ? x : keyLiteral(key, x.param === "from" ? batch.from : batch.to))).join("");
      results = await ctx.query(`${head};\n${stmt}\n;\n${tail}`);
    } else {
      await ctx.query(head);
      await b.run(strictApi<BackfillTx>({ sql: (text, params) => ctx.rows(text, params) }, "tx", b.file, ["sql(text, params?)"]), { from: batch.from, to: batch.to });
      results = await ctx.query(tail);
    }
    const row = results[results.length - (p.implicit ? 1 : 2)]?.rows[0] as { total?: string } | undefined;
    return { planned: true, next: readNextBatch(row as never), total: row?.total == null ? undefined : Number(row.total) };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && timeouts.has(code)) throw new BatchTimeout(code, (e as Error).message);
    throw e;
  }
}
