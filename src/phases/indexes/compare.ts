import { parse } from "libpg-query";
import type { DeclaredIndex } from "./declared.js";

/**
 * Whether the index in the database has the declared definition. Both are
 * parsed by PostgreSQL's parser and compared as trees, so spelling, spacing,
 * schema qualification and the casts `pg_get_indexdef` adds do not count.
 */
export async function sameDefinition(declared: DeclaredIndex, liveDef: string): Promise<boolean> {
  const live = (await parse(liveDef)).stmts?.[0]?.stmt as { IndexStmt?: Record<string, unknown> } | undefined;
  if (!live?.IndexStmt) return false;
  return JSON.stringify(normalize(live.IndexStmt)) === JSON.stringify(normalize(declared.node));
}

const ignored = new Set([
  "location", "idxname", "concurrent", "if_not_exists", "schemaname", "inh", "relpersistence",
  "rexpr_list_start", "rexpr_list_end", "list_start", "list_end",
]);

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  // pg_get_indexdef adds casts ('active'::text); compare what is cast.
  if ("TypeCast" in obj) return normalize((obj.TypeCast as { arg: unknown }).arg);
  // ... and stores `x IN (a, b)` as `x = ANY (ARRAY[a, b])`, `NOT IN` as `<> ALL`, `x IN (a)` as `x = a`.
  const expr = obj.A_Expr as { kind?: string; name?: { String?: { sval?: string } }[]; rexpr?: { List?: { items: unknown[] } } } | undefined;
  if (expr?.kind === "AEXPR_IN" && expr.rexpr?.List?.items.length === 1) {
    return normalize({ A_Expr: { ...expr, kind: "AEXPR_OP", rexpr: expr.rexpr.List.items[0] } });
  }
  if (expr?.kind === "AEXPR_IN" && expr.rexpr?.List) {
    const kind = expr.name?.[0]?.String?.sval === "<>" ? "AEXPR_OP_ALL" : "AEXPR_OP_ANY";
    return normalize({ A_Expr: { ...expr, kind, rexpr: { A_ArrayExpr: { elements: expr.rexpr.List.items } } } });
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort()) {
    if (!ignored.has(key)) out[key] = normalize(obj[key]);
  }
  return out;
}
