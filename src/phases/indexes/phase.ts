import { indexState } from "../../catalog/objects.js";
import { UsageError } from "../../errors.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { PhaseContext } from "../context.js";
import { noteStop } from "../stop.js";
import type { PlannedStatement } from "../migrate/phase.js";
import { buildIndex } from "./build.js";
import { liveIndex, sameDefinition } from "./compare.js";
import type { DeclaredIndex } from "./declared.js";
import { quoteIdent } from "../../state/quote.js";
import { qualifiedIndex, settleIndex, type IndexRef } from "./settle.js";

export type IndexStateName = "valid" | "invalid" | "missing" | "building" | "changed";

export interface IndexStatus {
  readonly name: string;
  readonly state: IndexStateName;
  readonly table: string;
  readonly file: string;
}

export interface IndexesOptions {
  /** Rebuild indexes whose definition changed: build the new one beside it, then swap. */
  readonly rebuildChanged?: boolean;
}

export interface IndexesResult {
  readonly built: readonly string[];
  /** Built by another runner while this one waited. */
  readonly skipped: readonly string[];
  /** Valid, but not as declared, and left alone (no --rebuild-changed). */
  readonly changed: readonly string[];
}

async function stateOf(gw: Gateway, idx: DeclaredIndex): Promise<IndexStateName> {
  const state = await gw.executeWithRetry({ name: `state of ${idx.ref.name}`, run: (ctx) => indexState(ctx, idx.ref) });
  if (state !== "valid") return state;
  const live = await liveIndex(gw, idx.ref);
  return live && (await sameDefinition(gw, idx, live)) ? "valid" : "changed";
}

export async function indexStatus(gw: Gateway, declared: readonly DeclaredIndex[]): Promise<IndexStatus[]> {
  const out: IndexStatus[] = [];
  for (const idx of declared) out.push({ name: idx.ref.name, state: await stateOf(gw, idx), table: idx.table, file: idx.file });
  return out;
}

/** The builds `run` would start, for `plan`. */
export function planIndexes(declared: readonly DeclaredIndex[], status: readonly IndexStatus[]): PlannedStatement[] {
  return status
    .filter((idx) => idx.state !== "valid")
    .map((idx) => {
      const d = declared.find((i) => i.ref.name === idx.name)!;
      return {
        migration: `index ${idx.name} (${idx.state})`,
        file: d.file,
        line: d.line,
        kind: "IndexStmt",
        transactional: false,
        lock: "SHARE UPDATE EXCLUSIVE",
        warnings: idx.state === "changed" ? ["the index exists with another definition: pgkeel indexes --rebuild-changed"] : [],
        sql: d.buildSql(),
      };
    });
}

/** Builds every declared index that is missing or invalid (and, on request, changed). */
export async function buildIndexes(c: PhaseContext, declared: readonly DeclaredIndex[], opts: IndexesOptions = {}): Promise<IndexesResult> {
  await c.ready();
  const built: string[] = [];
  const skipped: string[] = [];
  const changed: string[] = [];
  const todo: { idx: DeclaredIndex; state: IndexStateName }[] = [];
  for (const idx of declared) {
    const state = await stateOf(c.gw, idx);
    if (state === "valid") continue;
    if (state === "missing" && (await finishInterruptedSwap(idx, c))) continue;
    if (state === "changed" && !opts.rebuildChanged) {
      changed.push(idx.ref.name);
      c.emit({ type: "warning", message: `index ${idx.ref.name} exists with another definition than ${idx.file}:${idx.line}; pgkeel indexes --rebuild-changed rebuilds it` });
      continue;
    }
    todo.push({ idx, state });
  }
  c.emit({ type: "phase", phase: "indexes", pending: todo.length });
  await noteStop("indexes", todo.map((t) => t.idx.ref.name), () => [...built, ...skipped], async () => {
    for (const { idx, state } of todo) {
      c.emit({ type: "index-start", name: idx.ref.name, table: idx.table, file: idx.file });
      const t = performance.now();
      const by = state === "changed" ? await rebuildChanged(idx, c) : await buildIndex(idx, c);
      if (by === "this-run") built.push(idx.ref.name);
      else skipped.push(idx.ref.name);
      if (by !== "this-run") c.emit({ type: "index-done", name: idx.ref.name, ms: Math.round(performance.now() - t), by });
    }
  });
  return { built, skipped, changed };
}

function swapName(idx: DeclaredIndex): IndexRef {
  return { schema: idx.ref.schema, name: `${idx.ref.name.slice(0, 50)}_pgkeel_new` };
}

/** A run that died between dropping the old index and renaming the new one: finish the rename. */
async function finishInterruptedSwap(idx: DeclaredIndex, c: PhaseContext): Promise<boolean> {
  const temp = swapName(idx);
  return c.gw.executeWithRetry({
    name: `finish swap of ${idx.ref.name}`,
    run: async (ctx) => {
      if ((await indexState(ctx, idx.ref)) !== "missing" || (await indexState(ctx, temp)) !== "valid") return false;
      await ctx.query(`ALTER INDEX ${qualifiedIndex(temp)} RENAME TO ${quoteIdent(idx.ref.name)}`);
      return true;
    },
  });
}

/**
 * A changed index is rebuilt without a moment in which the table has neither
 * version: the new definition is built concurrently under a temporary name, the
 * old index is dropped concurrently, and the new one takes its name. Each step
 * can be resumed: a rerun finds the temporary index and carries on.
 */
async function rebuildChanged(idx: DeclaredIndex, c: PhaseContext): Promise<"this-run"> {
  const temp = swapName(idx);
  const [backing] = await c.gw.query<{ conname: string }>(
    `constraints on ${idx.ref.name}`,
    `SELECT conname FROM pg_constraint WHERE conindid = to_regclass($1)`,
    [qualifiedIndex(idx.ref)],
  );
  if (backing) {
    throw new UsageError(`${idx.file}:${idx.line}: index ${idx.ref.name} backs constraint ${backing.conname}; change the constraint in a migration instead`);
  }
  await buildIndex(idx, c, temp);
  const onWait = () => c.emit({ type: "waiting", what: `index ${idx.ref.name}`, holder: "a build running in another session" });
  await c.gw.executeWithRetry({
    name: `swap ${idx.ref.name}`,
    run: async (ctx) => {
      // Keyed on the temporary index, so a retry after the rename drops nothing.
      if ((await indexState(ctx, temp)) === "missing") return;
      await ctx.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualifiedIndex(idx.ref)}`);
      await ctx.query(`ALTER INDEX ${qualifiedIndex(temp)} RENAME TO ${quoteIdent(idx.ref.name)}`);
      await settleIndex(ctx, idx.ref, onWait);
    },
  });
  return "this-run";
}
