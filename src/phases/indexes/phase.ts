import { findIndex } from "../../catalog/objects.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { PhaseContext } from "../context.js";
import { noteStop } from "../stop.js";
import type { PlannedStatement } from "../migrate/phase.js";
import { buildIndex } from "./build.js";
import type { DeclaredIndex } from "./declared.js";
import { definedAsDeclared } from "./live.js";
import { hasLeftovers, rebuildIndex } from "./rebuild.js";

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
  const found = await gw.executeWithRetry({
    name: `state of ${idx.ref.name}`,
    run: (ctx) => findIndex(ctx, { schema: idx.ref.schema, name: idx.ref.name }, idx.ref.table),
  });
  if (found?.state !== "valid") return found?.state ?? "missing";
  return (await definedAsDeclared(gw, idx, found.schema, idx.ref.name)) ? "valid" : "changed";
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

/**
 * Builds every declared index that is missing or invalid (and, on request, changed).
 * A rebuild a run left halfway (its replacement or the retired index still there)
 * is finished first, whatever the request.
 */
export async function buildIndexes(c: PhaseContext, declared: readonly DeclaredIndex[], opts: IndexesOptions = {}): Promise<IndexesResult> {
  await c.ready();
  const built: string[] = [];
  const skipped: string[] = [];
  const changed: string[] = [];
  const todo: { idx: DeclaredIndex; state: IndexStateName; rebuild: boolean }[] = [];
  for (const idx of declared) {
    const state = await stateOf(c.gw, idx);
    const leftovers = await c.gw.executeWithRetry({ name: `leftovers of ${idx.ref.name}`, run: (ctx) => hasLeftovers(ctx, idx.ref) });
    if (state === "changed" && !opts.rebuildChanged) {
      changed.push(idx.ref.name);
      c.emit({ type: "warning", message: `index ${idx.ref.name} exists with another definition than ${idx.file}:${idx.line}; pgkeel indexes --rebuild-changed rebuilds it` });
      continue;
    }
    if (state === "valid" && !leftovers) continue;
    todo.push({ idx, state, rebuild: state === "changed" || leftovers });
  }
  c.emit({ type: "phase", phase: "indexes", pending: todo.length });
  await noteStop("indexes", todo.map((t) => t.idx.ref.name), () => [...built, ...skipped], async () => {
    for (const { idx, state, rebuild } of todo) {
      c.emit({ type: "index-start", name: idx.ref.name, table: idx.table, file: idx.file });
      const t = performance.now();
      const by = rebuild ? await rebuildIndex(idx, c, state === "valid") : await buildIndex(idx, c);
      if (by === "this-run") built.push(idx.ref.name);
      else skipped.push(idx.ref.name);
      if (by !== "this-run") c.emit({ type: "index-done", name: idx.ref.name, ms: Math.round(performance.now() - t), by });
    }
  });
  return { built, skipped, changed };
}
