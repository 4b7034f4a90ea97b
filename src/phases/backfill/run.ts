import { DatabaseError } from "../../errors.js";
import { isStatementModeRefusal } from "../../gateway/classify.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { quoteLiteral } from "../../state/quote.js";
import { raiseIf } from "../../state/guard.js";
import { xactLock, type StateNames } from "../../state/schema.js";
import type { PhaseContext } from "../context.js";
import type { Backfill, BackfillTx } from "./declared.js";
import { strictApi } from "../strict-api.js";
import { nextBatch, type KeyInfo } from "./keyset.js";


/** SQLSTATE pgkeel raises in a batch when the checkpoint moved since the batch was planned. */
const positionMoved = "PGK02";

interface Checkpoint {
  position: string | null;
  rowsDone: number;
  done: boolean;
}

export async function readCheckpoint(db: Pick<UnitContext, "rows">, names: StateNames, name: string): Promise<Checkpoint> {
  const [row] = await db.rows<{ position: string | null; rows_done: string; done: boolean }>(
    `SELECT position, rows_done, done FROM ${names.backfills} WHERE name = $1`,
    [name],
  );
  return { position: row?.position ?? null, rowsDone: Number(row?.rows_done ?? 0), done: row?.done ?? false };
}

/**
 * Walks the table in key order from the checkpoint, one transaction per batch:
 * a transaction-level lock on the backfill, a check that the checkpoint has not
 * moved, the statement, and the checkpoint advance, committed together (SPEC
 * guarantee 4). A lost COMMIT is resolved by reading the checkpoint back.
 * Holds one batch's bounds in memory, never a list of keys.
 */
export async function runBackfill(b: Backfill, key: KeyInfo, c: PhaseContext): Promise<number> {
  const started = performance.now();
  let cp = await c.gw.executeWithRetry({ name: `read checkpoint of ${b.name}`, run: (ctx) => readCheckpoint(ctx, c.names, b.name) });
  const firstRows = cp.rowsDone;
  c.emit({ type: "backfill-start", name: b.name, table: b.table, rowsDone: cp.rowsDone, estimatedRows: key.estimatedRows });
  let size = b.batch;
  // Adapts within a tenth and ten times the header's size: a slow server must not
  // shrink batches to one row each, nor a fast one grow them without end.
  const minSize = Math.max(1, Math.floor(b.batch / 10));
  const maxSize = b.batch * 10;
  let implicit = false;
  for (;;) {
    const batch = await c.gw.executeWithRetry({ name: `plan batch of ${b.name}`, run: (ctx) => nextBatch(ctx, key, cp.position, size) });
    if (!batch) break;
    const prev = cp.position;
    const t = performance.now();
    const apply = () =>
      c.gw.executeWithRetry({
        name: `${b.name} batch ${batch.from}..${batch.to}`,
        run: (ctx) => applyBatch(ctx, b, key, c, prev, batch, implicit),
        resolve: async (ctx) => {
          const now = await readCheckpoint(ctx, c.names, b.name);
          return now.position === prev ? { outcome: "not-committed" } : { outcome: "committed", value: undefined };
        },
      });
    try {
      await apply().catch(async (e: unknown) => {
        // A statement-mode pooler hid the server's answer to a failed batch (nothing committed):
        // from now on send batches in the form it passes, and hear what happened.
        if (implicit || b.kind !== "sql" || !isStatementModeRefusal(e)) throw e;
        implicit = true;
        await apply();
      });
    } catch (e) {
      // Another runner moved the checkpoint: carry on from where it is now.
      if (!(e instanceof DatabaseError && e.sqlstate === positionMoved)) throw e;
    }
    const ms = performance.now() - t;
    cp = await c.gw.executeWithRetry({ name: `read checkpoint of ${b.name}`, run: (ctx) => readCheckpoint(ctx, c.names, b.name) });
    if (b.targetMs > 0) size = nextSize(size, ms, b.targetMs, minSize, maxSize);
    const elapsed = (performance.now() - started) / 1000;
    const rate = (cp.rowsDone - firstRows) / Math.max(elapsed, 0.001);
    c.emit({
      type: "backfill-progress",
      name: b.name,
      rowsDone: cp.rowsDone,
      estimatedRows: key.estimatedRows,
      rowsPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.max(0, Math.round((key.estimatedRows - cp.rowsDone) / rate)) : null,
      batchSize: size,
      lastBatchMs: Math.round(ms),
    });
    if (b.pauseMs > 0) await new Promise((r) => setTimeout(r, b.pauseMs));
  }
  await c.gw.query(
    `finish ${b.name}`,
    `UPDATE ${c.names.backfills} SET done = true, finished_at = now() WHERE name = $1 AND NOT done`,
    [b.name],
  );
  return cp.rowsDone;
}

/**
 * The next batch size. Batches of one size vary about 2x in duration (a
 * checkpoint, WAL, a busy moment), so the aim is 60% of the target, leaving an
 * unlucky batch room to stay under it; grows at most 1.25x a step, shrinks at
 * once after a slow batch.
 */
export function nextSize(size: number, lastMs: number, targetMs: number, minSize: number, maxSize: number): number {
  const factor = Math.min(1.25, Math.max(0.25, (0.6 * targetMs) / Math.max(lastMs, 1)));
  return Math.max(minSize, Math.min(maxSize, Math.round(size * factor)));
}

/**
 * One batch: a single message for SQL backfills, header and tail around `run` for code ones.
 * `implicit` (SQL only, for a statement-mode pooler): no BEGIN and COMMIT, the message is one
 * implicit transaction, which the server ends idle even when it fails (see batchText in migrate/sql-text.ts).
 */
async function applyBatch(
  ctx: UnitContext,
  b: Backfill,
  key: KeyInfo,
  c: PhaseContext,
  prev: string | null,
  batch: { from: string; to: string; n: number },
  implicit: boolean,
): Promise<void> {
  const head = [
    ...(implicit ? [] : ["BEGIN"]),
    `SET LOCAL lock_timeout = ${quoteLiteral(c.lockTimeout)}`,
    xactLock(c.names.schema, `backfill:${b.name}`),
    raiseIf(
      b.name,
      `(SELECT position FROM ${c.names.backfills} WHERE name = ${quoteLiteral(b.name)}) IS DISTINCT FROM ${prev === null ? "NULL" : quoteLiteral(prev)}`,
      positionMoved,
      "backfill checkpoint moved",
    ),
  ].join(";\n");
  const tail = `UPDATE ${c.names.backfills} SET position = ${quoteLiteral(batch.to)}, rows_done = rows_done + ${batch.n}, batches = batches + 1
    WHERE name = ${quoteLiteral(b.name)}${implicit ? "" : ";\nCOMMIT"}`;
  const bound = (v: string) => `(${quoteLiteral(v)}::${key.type})`;
  if (b.kind === "sql") {
    const stmt = b.pieces.map((p) => (typeof p === "string" ? p : bound(p.param === "from" ? batch.from : batch.to))).join("");
    await ctx.query(`${head};\n${stmt}\n;\n${tail}`);
    return;
  }
  await ctx.query(head);
  await b.run(strictApi<BackfillTx>({ sql: (text, params) => ctx.rows(text, params) }, "tx", b.file, ["sql(text, params?)"]), { from: batch.from, to: batch.to });
  await ctx.query(tail);
}
