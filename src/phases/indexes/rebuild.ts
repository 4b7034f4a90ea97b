import { findIndex } from "../../catalog/objects.js";
import { UsageError } from "../../errors.js";
import type { UnitContext } from "../../gateway/gateway.js";
import type { Claim } from "../../state/claims.js";
import { quoteIdent, quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import { buildUnderClaim, indexClaimKey } from "./build.js";
import type { DeclaredIndex } from "./declared.js";
import { validAsDeclared } from "./live.js";
import { openTransaction } from "../transaction.js";
import { renamed, settleIndex, stateOfIndex, type IndexRef } from "./settle.js";

/** A rebuild's replacement (built beside the index) and the name the old index is retired under. */
export function rebuildNames(ref: IndexRef): { replacement: IndexRef; retired: IndexRef } {
  const base = ref.name.slice(0, 50);
  return { replacement: renamed(ref, `${base}_pgkeel_new`), retired: renamed(ref, `${base}_pgkeel_old`) };
}

/**
 * Rebuilds a changed index, or finishes a rebuild another run left halfway, so
 * that a valid index stands under the declared name at every moment (SPEC
 * guarantee 3), once across runners. Under the index's claim: the replacement is
 * built concurrently beside the index; one fenced transaction renames the old
 * index out and the replacement in (both renames commit together, and only while
 * the claim is held); the retired index is then dropped concurrently. Every step
 * starts from the catalog, so a rerun resumes wherever a run stopped. `wasValid`:
 * the index was already as declared (only leftovers to clear).
 */
export async function rebuildIndex(idx: DeclaredIndex, c: PhaseContext, wasValid: boolean): Promise<"this-run" | "another-runner" | "already-valid"> {
  await refuseConstraintIndex(idx, c);
  const t = performance.now();
  const done = async () =>
    (await validAsDeclared(c.gw, idx, idx.ref)) && !(await c.gw.executeWithRetry({ name: `leftovers of ${idx.ref.name}`, run: (ctx) => hasLeftovers(ctx, idx.ref) }));
  const claimed = await c.claims.withClaim(indexClaimKey(idx.ref), done, (claim) => swapIn(idx, c, claim), (holder) =>
    c.emit({ type: "waiting", what: `index ${idx.ref.name}`, holder }),
  );
  const mine = claimed.ran && claimed.value;
  if (mine) c.emit({ type: "index-done", name: idx.ref.name, ms: Math.round(performance.now() - t), by: "this-run" });
  // Not this run's: another runner finished it, or it only had leftovers to clear.
  return mine ? "this-run" : wasValid ? "already-valid" : "another-runner";
}

/** Whether a rebuild left its replacement or the retired index behind on the index's table (one round trip). */
export async function hasLeftovers(db: Pick<UnitContext, "rows">, ref: IndexRef): Promise<boolean> {
  const { replacement, retired } = rebuildNames(ref);
  const table = ref.table ? `${ref.table.schema ? `${quoteIdent(ref.table.schema)}.` : ""}${quoteIdent(ref.table.name)}` : undefined;
  if (!table) return (await stateOfIndex(db, replacement)) !== "missing" || (await stateOfIndex(db, retired)) !== "missing";
  const rows = await db.rows(
    `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = to_regclass($1) AND c.relname = ANY ($2::text[])`,
    [table, [replacement.name, retired.name]],
  );
  return rows.length > 0;
}

/** The rebuild's steps, each chosen from the catalog; true when this run built or swapped in the index. */
async function swapIn(idx: DeclaredIndex, c: PhaseContext, claim: Claim): Promise<boolean> {
  const { replacement, retired } = rebuildNames(idx.ref);
  const onWait = () => c.emit({ type: "waiting", what: `index ${idx.ref.name}`, holder: "a build running in another session" });
  let mine = false;
  for (;;) {
    claim.check();
    const st = await c.gw.executeWithRetry({
      name: `state of ${idx.ref.name}`,
      run: async (ctx) => ({
        main: await stateOfIndex(ctx, idx.ref),
        replacement: await stateOfIndex(ctx, replacement),
        retired: await stateOfIndex(ctx, retired),
      }),
    });
    const s = {
      ...st,
      mainDone: st.main === "valid" && (await validAsDeclared(c.gw, idx, idx.ref)),
      replacementReady: st.replacement === "valid" && (await validAsDeclared(c.gw, idx, replacement)),
    };
    if (s.mainDone) {
      if (s.retired !== "missing") await dropFenced(c, claim, retired);
      if (s.replacement !== "missing") await dropFenced(c, claim, replacement);
      return mine;
    }
    if (s.main === "building" || s.main === "invalid") {
      await c.gw.executeWithRetry({ name: `settle ${idx.ref.name}`, run: (ctx) => settleIndex(ctx, idx.ref, onWait) });
    } else if (s.retired !== "missing") {
      // A leftover under the name the old index is about to take.
      await dropFenced(c, claim, retired);
    } else if (s.replacementReady) {
      await swap(idx, c, claim);
      mine = true;
    } else if (s.replacement === "valid") {
      // A replacement with another definition (the file changed again since): not this one.
      await dropFenced(c, claim, replacement);
    } else {
      mine = (await buildUnderClaim(idx, s.main === "missing" ? idx.ref : replacement, c, claim)) || mine;
    }
  }
}

/**
 * The old index out, the replacement in, in one transaction that proves the claim
 * first: a reader sees the old index or the new one under the declared name, never
 * neither. ALTER INDEX RENAME takes SHARE UPDATE EXCLUSIVE on the index only, which
 * no read or write waits behind. A retry re-reads the catalog, so the swap happens once.
 */
async function swap(idx: DeclaredIndex, c: PhaseContext, claim: Claim): Promise<void> {
  const { replacement, retired } = rebuildNames(idx.ref);
  await c.gw.executeWithRetry({
    name: `swap ${idx.ref.name}`,
    run: async (ctx) => {
      const old = await findIndex(ctx, { schema: idx.ref.schema, name: idx.ref.name }, idx.ref.table);
      const repl = await findIndex(ctx, { schema: replacement.schema, name: replacement.name }, replacement.table);
      if (!repl) return;
      await ctx.query(
        // One implicit transaction: the fence and both renames commit together or not at all.
        [
          ...openTransaction(c, true),
          `SET LOCAL lock_timeout = ${quoteLiteral(c.lockTimeout)}`,
          claim.fence(),
          ...(old ? [`ALTER INDEX ${old.qualified} RENAME TO ${quoteIdent(retired.name)}`] : []),
          `ALTER INDEX ${repl.qualified} RENAME TO ${quoteIdent(idx.ref.name)}`,
        ].join(";\n"),
      );
    },
  });
}

/**
 * Drops a leftover (the retired index, or a stale replacement) concurrently, by its
 * qualified name on its table, right after proving the claim. Never the declared name.
 */
async function dropFenced(c: PhaseContext, claim: Claim, ref: IndexRef): Promise<void> {
  await c.gw.executeWithRetry({
    name: `drop ${ref.name}`,
    run: async (ctx) => {
      const found = await findIndex(ctx, { schema: ref.schema, name: ref.name }, ref.table);
      if (!found) return;
      claim.check();
      await ctx.query(claim.fence());
      await ctx.query(`DROP INDEX CONCURRENTLY IF EXISTS ${found.qualified}`);
    },
  });
}

async function refuseConstraintIndex(idx: DeclaredIndex, c: PhaseContext): Promise<void> {
  const [backing] = await c.gw.executeWithRetry({
    name: `constraints on ${idx.ref.name}`,
    run: async (ctx) => {
      const found = await findIndex(ctx, { schema: idx.ref.schema, name: idx.ref.name }, idx.ref.table);
      return found ? ctx.rows<{ conname: string }>("SELECT conname FROM pg_constraint WHERE conindid = $1::regclass", [found.qualified]) : [];
    },
  });
  if (backing) {
    throw new UsageError(`${idx.file}:${idx.line}: index ${idx.ref.name} backs constraint ${backing.conname}; change the constraint in a migration instead`);
  }
}
