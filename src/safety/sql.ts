import { createRequire } from "node:module";
import { QuoteUtils } from "@pgsql/quotes";
import type { TableName } from "./types.js";

/**
 * Reading parse nodes and writing SQL back in the user's own names. Safe
 * alternatives are built as parse nodes and deparsed, so identifiers are quoted
 * exactly as PostgreSQL needs them.
 */

export type Node = Record<string, unknown>;

/** The inner object of a wrapped node (`{ RangeVar: {...} }` -> `{...}`); a plain node passes through; another type gives undefined. */
export function unwrap(n: unknown, type?: string): Node | undefined {
  if (!n || typeof n !== "object" || Array.isArray(n)) return undefined;
  const o = n as Node;
  const keys = Object.keys(o);
  if (keys.length !== 1 || !/^[A-Z]/.test(keys[0]!)) return o;
  if (type && keys[0] !== type) return undefined;
  return o[keys[0]!] as Node;
}

export function list(n: unknown): Node[] {
  return Array.isArray(n) ? (n as Node[]) : [];
}

/** `String` nodes of a name list (`["public", "leads"]`). */
export function strings(n: unknown): string[] {
  return list(n).map((s) => String(unwrap(s, "String")?.sval ?? ""));
}

export function tableOf(rangeVar: unknown): TableName {
  const r = (unwrap(rangeVar, "RangeVar") ?? {}) as { schemaname?: string; relname?: string };
  return r.schemaname ? { schema: r.schemaname, name: r.relname ?? "" } : { name: r.relname ?? "" };
}

/** A dotted name list from a DROP or similar statement, as a table name. */
export function tableFromList(items: unknown): TableName {
  const parts = strings(unwrap(items, "List")?.items ?? items);
  return parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1]! } : { name: parts[0] ?? "" };
}

export function ident(name: string): string {
  return QuoteUtils.quoteIdentifier(name);
}

/** How a table is written in messages and fixes: quoted where SQL needs it. */
export function tableSql(t: TableName): string {
  return t.schema ? `${ident(t.schema)}.${ident(t.name)}` : ident(t.name);
}

/** A map key for a table name as written. */
export const key = (t: TableName): string => JSON.stringify([t.schema ?? null, t.name]);

export function sameTable(a: TableName, b: TableName): boolean {
  return a.name === b.name && (a.schema ?? "") === (b.schema ?? "");
}

let deparser: typeof import("pgsql-deparser") | undefined;

/** SQL text of a parse node (a statement, an expression, a type name). The deparser (470 kB) loads on first use: most runs never need one. */
export function deparse(node: Node): string {
  deparser ??= createRequire(import.meta.url)("pgsql-deparser") as typeof import("pgsql-deparser");
  return deparser.deparseSync(node as never, { pretty: false });
}

export function typeSql(typeName: unknown): string {
  return deparse({ TypeName: unwrap(typeName, "TypeName") ?? {} });
}

export function exprSql(expr: unknown): string {
  return deparse(expr as Node);
}

/** The last part of a type name: `int4`, `varchar`, `timestamptz`. */
export function typeBase(typeName: unknown): string {
  const t = (unwrap(typeName, "TypeName") ?? {}) as { names?: unknown };
  return strings(t.names).at(-1) ?? "";
}

export function isArrayType(typeName: unknown): boolean {
  const t = (unwrap(typeName, "TypeName") ?? {}) as { arrayBounds?: unknown[] };
  return Array.isArray(t.arrayBounds) && t.arrayBounds.length > 0;
}

/** Every node of `type` anywhere below `n`. */
export function findNodes(n: unknown, type: string, out: Node[] = []): Node[] {
  if (Array.isArray(n)) {
    for (const x of n) findNodes(x, type, out);
  } else if (n && typeof n === "object") {
    for (const [k, v] of Object.entries(n as Node)) {
      if (k === type && v && typeof v === "object") out.push(v as Node);
      findNodes(v, type, out);
    }
  }
  return out;
}

/** `ALTER TABLE t` commands. */
export function alterCommands(node: Node): Node[] {
  return list(node.cmds).map((c) => unwrap(c, "AlterTableCmd") ?? {});
}

export function constraintOf(def: unknown): Node | undefined {
  return unwrap(def, "Constraint");
}

export function columnDefOf(def: unknown): Node | undefined {
  return unwrap(def, "ColumnDef");
}

/** A short name for new objects, within PostgreSQL's 63-byte limit. */
export function objectName(...parts: string[]): string {
  return parts.join("_").slice(0, 63);
}
