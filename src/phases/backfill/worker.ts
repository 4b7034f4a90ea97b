import { ClaimLostError, DatabaseError } from "../../errors.js";
import { backoffMs } from "../../gateway/backoff.js";
import { isStatementModeRefusal } from "../../gateway/classify.js";
import { claimLost, type Claim, type Claims } from "../../state/claims.js";
import { quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import { sleep } from "../sleep.js";
import { applyBatch, BatchTimeout, positionMoved, type BatchOutcome } from "./batch.js";
import type { BackfillControl } from "./control.js";
import type { Backfill } from "./declared.js";
import { nextBatch, type Batch, type KeyInfo } from "./keyset.js";
import { openRanges, rangeClaimKey, readRange, type KeyRange } from "./ranges.js";

/** Attempts at one size before a batch that keeps timing out is split in half. */
const attemptsBeforeSplit = 2;

/** What the workers of one process share while they work one backfill. */
export interface Crew {
  readonly b: Backfill;
  readonly key: KeyInfo;
  readonly c: PhaseContext;
  readonly control: BackfillControl;
  /** Set when one worker failed: the others stop before their next batch. */
  failed: boolean;
  /** SQL batches sent without BEGIN/COMMIT (a statement-mode pooler hid a failure). */
  implicit: boolean;
  /** Called after every committed batch. */
  onBatch(b: Batch, outcome: BatchOutcome | undefined, ms: number, size: number, worker: string): void;
  /** Called once when every open range is held by other workers. */
  onWait(): void;
}

/**
 * One worker: takes an open range (unclaimed, or its claim lapsed), walks it to
 * the end, then takes the next, until no range is left open. A range another
 * worker holds is waited for, not shared: returns once every range is done.
 */
export async function work(crew: Crew, claims: Claims, index: number): Promise<void> {
  const { b, c } = crew;
  // The size the worker has learned carries from range to range: ranges are cut at
  // about ten starting-size batches each, and starting each one small again kept
  // the batches small (and their commits many) on a table where they could grow.
  // A fixed size (target=0) is the header's again in each range: a split lasts for its range.
  const pace = { size: b.batch };
  for (;;) {
    if (crew.failed) return;
    await crew.control.gate(claims.owner);
    const open = await c.gw.executeWithRetry({ name: `open ranges of ${b.name}`, run: (ctx) => openRanges(ctx, c.names, b.name) });
    if (!open.free.length && !open.held) return;
    let taken: { range: KeyRange; generation: string } | undefined;
    // Workers start at different places in the list, so they rarely race for one range.
    const order = open.free.map((_, i) => open.free[(i + index * Math.ceil(open.free.length / 4)) % open.free.length]!);
    for (const range of order) {
      const generation = await claims.tryClaim(rangeClaimKey(b.name, range.range));
      if (generation !== undefined) {
        taken = { range, generation };
        break;
      }
    }
    if (!taken) {
      crew.control.report(claims.owner, { state: "waiting", reason: "every open range is held by another worker", range: null });
      crew.onWait();
      await sleep(250 + Math.random() * 250, c.stop);
      continue;
    }
    const key = rangeClaimKey(b.name, taken.range.range);
    const { claim, stop } = claims.hold(key, taken.generation);
    try {
      if (b.targetMs === 0) pace.size = b.batch;
      await walk(crew, claim, taken.range, pace);
    } catch (e) {
      // Another worker took this range over (this one went unheard past the claim's lifetime):
      // it carries the range on, every batch being fenced; this one takes another.
      if (!(claim.lost || e instanceof ClaimLostError || (e instanceof DatabaseError && e.sqlstate === claimLost))) throw e;
      c.emit({ type: "warning", message: `backfill ${b.name}: range ${taken.range.range} was taken over by ${(await claims.holder(key).catch(() => undefined)) ?? "another worker"}; this worker moves on` });
    } finally {
      stop();
      await claims.release(key, claim.generation).catch(() => {});
    }
  }
}

/** Walks one claimed range by keyset, one fenced batch at a time, splitting a batch that keeps timing out. */
async function walk(crew: Crew, claim: Claim, start: KeyRange, pace: { size: number }): Promise<void> {
  const { b, key, c } = crew;
  const worker = claim.owner;
  const rangeNo = start.range;
  const read = () => c.gw.executeWithRetry({ name: `read range ${rangeNo} of ${b.name}`, run: (ctx) => readRange(ctx, c.names, b.name, rangeNo) });
  // As listed before the claim: if another worker moved it since, the first batch's fence says so and it is read again.
  let range = start;
  const minSize = Math.max(1, Math.floor(b.batch / 10));
  let planned: Batch | undefined;
  /** The last batch's message found no key left in the range, and marked it done. */
  let exhausted = false;
  let failures = 0;
  let rows = 0;
  const started = performance.now();
  crew.control.report(worker, { state: "working", reason: null, range: rangeNo });
  while (!range.done && !exhausted) {
    claim.check();
    if (crew.failed) return;
    // A throttled backfill takes smaller batches than its size.
    const want = Math.max(1, Math.round(pace.size * (await crew.control.gate(worker))));
    const prev = range.position;
    if (planned && planned.n > want) planned = undefined;
    const batch = planned ?? (await c.gw.executeWithRetry({ name: `plan batch of ${b.name}`, run: (ctx) => nextBatch(ctx, key, { position: prev, hi: range.hi }, want, c.lockTimeout) }));
    planned = undefined;
    if (!batch) {
      await finishRange(crew, claim, rangeNo, prev);
      return;
    }
    const t = performance.now();
    let outcome: BatchOutcome;
    try {
      outcome = await send(crew, claim, rangeNo, range.hi, prev, batch, pace.size);
    } catch (e) {
      if (e instanceof DatabaseError && e.sqlstate === positionMoved) {
        range = await read();
        continue;
      }
      if (!(e instanceof BatchTimeout)) throw e;
      if (++failures < attemptsBeforeSplit) {
        await sleep(backoffMs(c.gw.policy, failures), c.stop);
        continue;
      }
      const unit = `backfill ${b.name} (${b.file})`;
      if (batch.n === 1) {
        throw new DatabaseError(e.sqlstate, `key ${batch.from} (the batch from ${batch.from} to ${batch.to}, one key) still fails on its own: ${e.serverMessage}`, {
          unit,
          hint: "nothing of this key was applied; every batch before it is committed, and the next run starts at this key",
        });
      }
      pace.size = Math.ceil(batch.n / 2);
      failures = 0;
      c.emit({ type: "backfill-split", name: b.name, from: batch.from, to: batch.to, rows: batch.n, size: pace.size, reason: e.message });
      continue;
    }
    const ms = performance.now() - t;
    failures = 0;
    rows += batch.n;
    range = { ...range, position: batch.to };
    if (b.targetMs > 0) pace.size = nextSize(pace.size, ms, batch.n, b.targetMs, minSize, b.maxBatch);
    // The next batch was planned in the same message at the old size: keep it unless it is now too big.
    planned = outcome.next && outcome.next.n <= pace.size ? outcome.next : undefined;
    exhausted = outcome.planned && !outcome.next;
    crew.control.report(worker, { rowsPerSecond: Math.round(rows / Math.max((performance.now() - started) / 1000, 0.001)) });
    crew.onBatch(batch, outcome, ms, pace.size, worker);
    if (b.pauseMs > 0) await sleep(b.pauseMs, c.stop);
  }
}

/** One batch through the gateway: a lost COMMIT is resolved by reading the range's checkpoint back. */
async function send(crew: Crew, claim: Claim, range: number, hi: string | null, prev: string | null, batch: Batch, size: number): Promise<BatchOutcome> {
  const { b, key, c } = crew;
  const apply = () =>
    c.gw.executeWithRetry<BatchOutcome>({
      name: `${b.name} batch ${batch.from}..${batch.to}`,
      run: (ctx) => applyBatch(ctx, c, { b, key, range, hi, prev, batch, claim, nextSize: size, implicit: crew.implicit }),
      // Committed if the checkpoint is where this batch put it; anywhere else (where it was, or moved
      // on by a worker that took the range over) it is sent again and its fence decides.
      resolve: async (ctx) => {
        const now = await readRange(ctx, c.names, b.name, range);
        return now.position === batch.to ? { outcome: "committed", value: { planned: false, next: undefined, total: undefined } } : { outcome: "not-committed" };
      },
    });
  return apply().catch(async (e: unknown) => {
    // A statement-mode pooler hid the server's answer to a failed batch (nothing committed):
    // from now on send batches in the form it passes, and hear what happened.
    if (crew.implicit || b.kind !== "sql" || !isStatementModeRefusal(e)) throw e;
    crew.implicit = true;
    return apply();
  });
}

/** Marks the range done once no key is left past its checkpoint, under the claim's fence. */
async function finishRange(crew: Crew, claim: Claim, range: number, position: string | null): Promise<void> {
  const { b, c } = crew;
  await c.gw.query(
    `finish range ${range} of ${b.name}`,
    [
      "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
      claim.fence(),
      `UPDATE ${c.names.backfillRanges} SET done = true WHERE backfill = ${quoteLiteral(b.name)} AND range = ${range}
          AND position IS NOT DISTINCT FROM ${position === null ? "NULL" : quoteLiteral(position)}`,
    ].join(";\n"),
  );
}

/**
 * The next batch size. Batches of one size vary about 2x in duration (a
 * checkpoint, WAL, a busy moment), so the aim is 60% of the target, leaving an
 * unlucky batch room to stay under it; grows at most 1.25x a step (at least one
 * row), shrinks at once after a slow batch. A batch of fewer rows than the size
 * (a range's tail, a throttled batch) says little about the size: quick because
 * it was short, or slow per row because its fixed cost was spread over few rows.
 * It leaves the size as it is, unless it alone took longer than the aim; then the
 * size is judged at its rate.
 */
export function nextSize(size: number, lastMs: number, lastRows: number, targetMs: number, minSize: number, maxSize: number): number {
  const aimMs = 0.6 * targetMs;
  const clamp = (n: number) => Math.max(minSize, Math.min(maxSize, n));
  if (lastRows < size && lastMs <= aimMs) return clamp(size);
  const projectedMs = (lastMs * size) / Math.max(1, Math.min(lastRows, size));
  const factor = Math.min(1.25, Math.max(0.25, aimMs / Math.max(projectedMs, 1)));
  return clamp(factor > 1 ? Math.max(size + 1, Math.round(size * factor)) : Math.round(size * factor));
}
