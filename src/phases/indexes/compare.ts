import { parse } from "../../sql/parser.js";
import { DatabaseError } from "../../errors.js";
import type { Gateway } from "../../gateway/gateway.js";
import { quoteIdent } from "../../state/quote.js";
import type { DeclaredIndex } from "./declared.js";
import type { IndexRef } from "./settle.js";

/** An index as the database has it: its definition, and each key column's operator class and collation. */
export interface LiveIndex {
  readonly def: string;
  readonly opclasses: readonly string[];
  /** "" where the column has none. */
  readonly collations: readonly string[];
}

export async function liveIndex(gw: Gateway, ref: IndexRef): Promise<LiveIndex | undefined> {
  const [row] = await gw.query<LiveIndex>(
    `definition of ${ref.name}`,
    `SELECT pg_get_indexdef(c.oid) AS def,
            ARRAY(SELECT o.opcname::text FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS k(oid, n)
                    JOIN pg_opclass o ON o.oid = k.oid ORDER BY k.n) AS opclasses,
            ARRAY(SELECT coalesce(l.collname::text, '') FROM unnest(i.indcollation::oid[]) WITH ORDINALITY AS k(oid, n)
                    LEFT JOIN pg_collation l ON l.oid = k.oid ORDER BY k.n) AS collations
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.relname = $2 AND c.relkind IN ('i', 'I')
        AND (CASE WHEN $1::text IS NULL THEN n.nspname = ANY (current_schemas(true)) ELSE n.nspname = $1 END)
      ORDER BY array_position(current_schemas(true)::text[], n.nspname::text) NULLS LAST LIMIT 1`,
    [ref.schema ?? null, ref.name],
  );
  return row;
}

/**
 * Whether the index in the database has the declared definition. Both are
 * parsed by PostgreSQL's parser and compared as trees, so what
 * `pg_get_indexdef` prints differently from what was written does not count:
 * spelling, spacing, parentheses, schema qualification, added casts, `IN`
 * lists stored as `= ANY`, `BETWEEN` and `LIKE` stored as operators, default
 * operator classes, collations and NULLS orderings left out, reloptions
 * quoted as text. A constant printed in another form (`'2020-01-01'` as
 * `'2020-01-01 00:00:00+00'::timestamp with time zone`) is compared by the
 * server, in that type.
 */
export async function sameDefinition(gw: Gateway, declared: DeclaredIndex, live: LiveIndex): Promise<boolean> {
  const tree = (await parse(live.def)).stmts?.[0]?.stmt as { IndexStmt?: Record<string, unknown> } | undefined;
  if (!tree?.IndexStmt) return false;
  const constants: Constant[] = [];
  const same = equal(normalize(dropLiveDefaults(declared.node, tree.IndexStmt, live)), normalize(tree.IndexStmt), constants);
  return same && (await sameConstants(gw, constants));
}

const ignored = new Set([
  "location", "idxname", "concurrent", "if_not_exists", "schemaname", "inh", "relpersistence",
  "rexpr_list_start", "rexpr_list_end", "list_start", "list_end", "defaction",
  // pg_get_indexdef never prints the tablespace; moving an index is ALTER INDEX ... SET TABLESPACE, not a rebuild.
  "tableSpace",
]);

/** A constant, with the type the server printed it in (live side). */
interface Const {
  readonly "#const": string;
  readonly "#type"?: string;
}
type Constant = { declared: string; live: string; type: string };

/**
 * pg_get_indexdef leaves out a key column's operator class and collation when
 * they are the defaults; a declaration that names them anyway names the same
 * index when the live column has exactly those.
 */
function dropLiveDefaults(declared: Record<string, unknown>, liveTree: Record<string, unknown>, live: LiveIndex): Record<string, unknown> {
  const liveParams = (liveTree.indexParams as { IndexElem?: Record<string, unknown> }[] | undefined) ?? [];
  const params = ((declared.indexParams as { IndexElem?: Record<string, unknown> }[] | undefined) ?? []).map((p, k) => {
    const elem = p.IndexElem;
    const printed = liveParams[k]?.IndexElem;
    if (!elem || !printed) return p;
    const out = { ...elem };
    if (elem.opclass && !printed.opclass && lastName(elem.opclass) === live.opclasses[k] && !(elem.opclassopts as unknown[] | undefined)?.length) delete out.opclass;
    if (elem.collation && !printed.collation && lastName(elem.collation) === live.collations[k]) delete out.collation;
    return { IndexElem: out };
  });
  return { ...declared, indexParams: params };
}

function lastName(names: unknown): string | undefined {
  const list = names as { String?: { sval?: string } }[];
  return list[list.length - 1]?.String?.sval;
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  if ("A_Const" in obj) return { "#const": constText(obj.A_Const as Record<string, unknown>) } satisfies Const;
  if ("TypeCast" in obj) {
    const cast = obj.TypeCast as { arg: Record<string, unknown>; typeName: Record<string, unknown> };
    // pg_get_indexdef adds casts ('active'::text); compare what is cast, a constant in the type it was printed in.
    const arg = normalize(cast.arg);
    const type = typeSql(cast.typeName);
    return isConst(arg) && type ? ({ ...arg, "#type": type } satisfies Const) : arg;
  }
  if ("A_Expr" in obj) return normalizeExpr(obj.A_Expr as AExpr);
  if ("BoolExpr" in obj) {
    // a AND (b AND c) is a AND b AND c, however it is nested or printed (BETWEEN becomes an AND too).
    const b = obj.BoolExpr as { boolop: string; args: unknown[] };
    const args = b.args.map(normalize).flatMap((a) => {
      const inner = (a as { BoolExpr?: { boolop: string; args: unknown[] } }).BoolExpr;
      return inner && inner.boolop === b.boolop && b.boolop !== "NOT_EXPR" ? inner.args : [a];
    });
    return { BoolExpr: { boolop: b.boolop, args } };
  }
  if ("IndexElem" in obj) return { IndexElem: normalizeElem(obj.IndexElem as Record<string, unknown>) };
  if ("DefElem" in obj) {
    // Reloptions are stored as text: fillfactor = 70 reads back as fillfactor='70'.
    const d = obj.DefElem as { defname: string; arg?: unknown };
    return { DefElem: { defname: d.defname, value: d.arg === undefined ? undefined : valueText(d.arg) } };
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort()) {
    if (ignored.has(key)) continue;
    out[key] = key === "options" || key === "opclassopts" ? sortedOptions(normalize(obj[key])) : normalize(obj[key]);
  }
  return out;
}

interface AExpr {
  kind?: string;
  name?: { String?: { sval?: string } }[];
  lexpr?: unknown;
  rexpr?: { List?: { items: unknown[] } } & Record<string, unknown>;
}

/** The forms PostgreSQL stores some operators in. */
function normalizeExpr(expr: AExpr): unknown {
  const op = (name: string, l: unknown, r: unknown) => ({ A_Expr: { kind: "AEXPR_OP", name: [{ String: { sval: name } }], lexpr: l, rexpr: r } });
  const items = expr.rexpr?.List?.items;
  const opName = expr.name?.[0]?.String?.sval;
  // x IN (a, b) is stored as x = ANY (ARRAY[a, b]), NOT IN as <> ALL, x IN (a) as x = a.
  if (expr.kind === "AEXPR_IN" && items?.length === 1) return normalize(op(opName ?? "=", expr.lexpr, items[0]));
  if (expr.kind === "AEXPR_IN" && items) {
    const kind = opName === "<>" ? "AEXPR_OP_ALL" : "AEXPR_OP_ANY";
    return normalize({ A_Expr: { ...expr, kind, rexpr: { A_ArrayExpr: { elements: items } } } });
  }
  // a BETWEEN x AND y is stored as a >= x AND a <= y; NOT BETWEEN as a < x OR a > y.
  if ((expr.kind === "AEXPR_BETWEEN" || expr.kind === "AEXPR_NOT_BETWEEN") && items?.length === 2) {
    const not = expr.kind === "AEXPR_NOT_BETWEEN";
    const args = [op(not ? "<" : ">=", expr.lexpr, items[0]), op(not ? ">" : "<=", expr.lexpr, items[1])];
    return normalize({ BoolExpr: { boolop: not ? "OR_EXPR" : "AND_EXPR", args } });
  }
  // LIKE and ILIKE are stored as the operators ~~ and ~~* they stand for.
  if (expr.kind === "AEXPR_LIKE" || expr.kind === "AEXPR_ILIKE") return normalize({ A_Expr: { ...expr, kind: "AEXPR_OP" } });
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(expr).sort()) if (!ignored.has(key)) out[key] = normalize((expr as Record<string, unknown>)[key]);
  return { A_Expr: out };
}

function normalizeElem(elem: Record<string, unknown>): Record<string, unknown> {
  // ((a)) written as an expression is the column a.
  const fields = (elem.expr as { ColumnRef?: { fields: { String?: { sval?: string } }[] } } | undefined)?.ColumnRef?.fields;
  const name = fields?.length === 1 && fields[0]?.String?.sval !== undefined ? fields[0].String.sval : (elem.name as string | undefined);
  const desc = elem.ordering === "SORTBY_DESC";
  // NULLS FIRST is the default for DESC, NULLS LAST for ASC, and is then not printed.
  const nullsFirst = elem.nulls_ordering === "SORTBY_NULLS_FIRST" || (elem.nulls_ordering !== "SORTBY_NULLS_LAST" && desc);
  return {
    name,
    expr: name === undefined ? normalize(elem.expr) : undefined,
    // Schema-qualified or not, an operator class or collation is compared by name.
    opclass: elem.opclass ? lastName(elem.opclass) : undefined,
    opclassopts: elem.opclassopts ? sortedOptions(normalize(elem.opclassopts)) : undefined,
    collation: elem.collation ? lastName(elem.collation) : undefined,
    desc,
    nullsFirst,
  };
}

function sortedOptions(options: unknown): unknown {
  if (!Array.isArray(options)) return options;
  const name = (o: unknown) => (o as { DefElem?: { defname?: string } }).DefElem?.defname ?? "";
  return [...options].sort((a, b) => name(a).localeCompare(name(b)));
}

/** A constant's text as written: 70, -1, 1.5, 'x', true, NULL. Zero and false are left out of the tree. */
function constText(c: Record<string, unknown>): string {
  if (c.isnull) return "NULL";
  if ("ival" in c) return String((c.ival as { ival?: number }).ival ?? 0);
  if ("fval" in c) return String((c.fval as { fval?: string }).fval);
  if ("boolval" in c) return String((c.boolval as { boolval?: boolean }).boolval ?? false);
  if ("bsval" in c) return String((c.bsval as { bsval?: string }).bsval);
  return String((c.sval as { sval?: string } | undefined)?.sval ?? "");
}

function valueText(arg: unknown): string {
  const a = arg as Record<string, Record<string, unknown>>;
  if (a.Integer) return String(a.Integer.ival ?? 0);
  if (a.Float) return String(a.Float.fval);
  if (a.Boolean) return String(a.Boolean.boolval ?? false);
  if (a.String) return String(a.String.sval);
  if (a.TypeName) return ((a.TypeName.names as { String?: { sval?: string } }[]) ?? []).map((n) => n.String?.sval).join(".");
  return JSON.stringify(normalize(arg));
}

/** The type a cast names, as SQL the server reads back (`pg_catalog.varchar(20)`); undefined when it cannot be written simply. */
function typeSql(t: Record<string, unknown>): string | undefined {
  const names = (t.names as { String?: { sval?: string } }[] | undefined)?.map((n) => n.String?.sval);
  if (!names?.length || names.some((n) => n === undefined)) return undefined;
  const mods = (t.typmods as { A_Const?: Record<string, unknown> }[] | undefined)?.map((m) => (m.A_Const && "ival" in m.A_Const ? constText(m.A_Const) : undefined));
  if (mods?.some((m) => m === undefined)) return undefined;
  const bounds = (t.arrayBounds as unknown[] | undefined)?.length ?? 0;
  return `${(names as string[]).map(quoteIdent).join(".")}${mods?.length ? `(${mods.join(",")})` : ""}${"[]".repeat(bounds)}`;
}

function isConst(v: unknown): v is Const {
  return typeof v === "object" && v !== null && "#const" in v;
}

/** Structural equality; constants of different text are equal when the server says so, in the live side's type. */
function equal(d: unknown, l: unknown, constants: Constant[]): boolean {
  if (isConst(d) && isConst(l)) {
    if (d["#const"] === l["#const"]) return true;
    if (!l["#type"] || d["#const"] === "NULL" || l["#const"] === "NULL") return false;
    constants.push({ declared: d["#const"], live: l["#const"], type: l["#type"] });
    return true;
  }
  if (Array.isArray(d) || Array.isArray(l)) {
    return Array.isArray(d) && Array.isArray(l) && d.length === l.length && d.every((x, i) => equal(x, l[i], constants));
  }
  if (d === null || l === null || typeof d !== "object" || typeof l !== "object") return d === l;
  const keys = new Set([...Object.keys(d), ...Object.keys(l)]);
  for (const k of keys) {
    if (!equal((d as Record<string, unknown>)[k], (l as Record<string, unknown>)[k], constants)) return false;
  }
  return true;
}

/** One read-only round trip: does each declared constant read as the live one, in the live one's type? */
async function sameConstants(gw: Gateway, constants: readonly Constant[]): Promise<boolean> {
  if (!constants.length) return true;
  const checks = constants.map((c, i) => `CAST($${2 * i + 1}::text AS ${c.type})::text = CAST($${2 * i + 2}::text AS ${c.type})::text`);
  try {
    const [row] = await gw.query<{ same: boolean }>("compare index constants", `SELECT ${checks.join(" AND ")} AS same`, constants.flatMap((c) => [c.declared, c.live]));
    return row?.same === true;
  } catch (e) {
    // A declared constant the type does not accept is not the live one.
    if (e instanceof DatabaseError) return false;
    throw e;
  }
}
