import { blocks } from "../locks.js";
import { deparse, ident, objectName, tableSql, type Node } from "../sql.js";
import type { Effect, LockMode, StatementContext, TableName } from "../types.js";

/** The words every message ends with: the lock, what it blocks, and for how long. */
export function lockWords(mode: LockMode, table: TableName, effect: Effect): string {
  const during = effect === "rewrite" ? "while it rewrites the whole table and its indexes" : effect === "scan" ? "while it reads the whole table" : effect === "rows" ? "on every row it touches, until the migration commits" : "";
  return `${mode} on ${tableSql(table)} ${blocks(mode)}${during ? ` ${during}` : ""}`;
}

/** `ALTER TABLE t ADD CONSTRAINT ... NOT VALID;` now, `VALIDATE CONSTRAINT` in the next migration. */
export function notValidThenValidate(table: TableName, addNotValidSql: string, constraint: string): string {
  return [
    `${addNotValidSql};`,
    "-- then, in a following migration (VALIDATE takes SHARE UPDATE EXCLUSIVE: reads and writes go on):",
    `ALTER TABLE ${tableSql(table)} VALIDATE CONSTRAINT ${ident(constraint)};`,
  ].join("\n");
}

/** SET NOT NULL without the long scan: a validated CHECK proves it (PostgreSQL 12+). */
export function notNullRecipe(table: TableName, column: string, ctx: StatementContext): string {
  const check = objectName(table.name, column, "not_null");
  const t = tableSql(table);
  const lines = [
    `ALTER TABLE ${t} ADD CONSTRAINT ${ident(check)} CHECK (${ident(column)} IS NOT NULL) NOT VALID;`,
    "-- then, in a following migration:",
    `ALTER TABLE ${t} VALIDATE CONSTRAINT ${ident(check)};`,
  ];
  if (ctx.serverVersion === undefined || ctx.serverVersion >= 120000) {
    lines.push(`ALTER TABLE ${t} ALTER COLUMN ${ident(column)} SET NOT NULL;  -- no scan: the valid CHECK proves it`, `ALTER TABLE ${t} DROP CONSTRAINT ${ident(check)};`);
  } else lines.push("-- (before PostgreSQL 12 SET NOT NULL scans anyway: keep the CHECK constraint instead)");
  return lines.join("\n");
}

/** A backfill file that does the same data change in keyset batches. */
export function backfillFile(table: TableName, ctx: StatementContext, what: string, batchedSql: string): string {
  const key = ctx.primaryKey(table) ?? "id";
  return [
    `-- db/backfills/<timestamp>_${objectName(table.name, what)}.sql (pgkeel create ${objectName(table.name, what)} --backfill):`,
    `-- pgkeel:backfill table=${tableSql(table)} key=${ident(key)} batch=5000`,
    `${batchedSql.replaceAll('"__pgkeel_from"', ":from").replaceAll('"__pgkeel_to"', ":to").replaceAll("__pgkeel_from", ":from").replaceAll("__pgkeel_to", ":to")};`,
  ].join("\n");
}

/** `where AND key BETWEEN :from AND :to`, as a parse node (deparsed, then the two placeholders become :from and :to). */
export function batchWhere(where: unknown, key: string): Node {
  const between = {
    A_Expr: {
      kind: "AEXPR_BETWEEN",
      name: [{ String: { sval: "BETWEEN" } }],
      lexpr: { ColumnRef: { fields: [{ String: { sval: key } }] } },
      rexpr: { List: { items: [{ ColumnRef: { fields: [{ String: { sval: "__pgkeel_from" } }] } }, { ColumnRef: { fields: [{ String: { sval: "__pgkeel_to" } }] } }] } },
    },
  };
  return where ? { BoolExpr: { boolop: "AND_EXPR", args: [where, between] } } : between;
}

export function sqlOf(kind: string, node: Node): string {
  return deparse({ [kind]: node });
}

/** `ALTER TABLE <relation> <one command>`, e.g. `alterSql(rel, "AT_AddColumn", { ColumnDef: col })`. */
export function alterSql(relation: unknown, subtype: string, def: Node): string {
  return sqlOf("AlterTableStmt", { relation, cmds: [{ AlterTableCmd: { subtype, def } }], objtype: "OBJECT_TABLE" });
}

/** The constraint (named) added NOT VALID now, validated in the next migration. */
export function notValidFix(relation: unknown, table: TableName, con: Node & { conname: string }): string {
  return notValidThenValidate(table, alterSql(relation, "AT_AddConstraint", { Constraint: { ...con, skip_validation: true, initially_valid: false } }), con.conname);
}

export function one<T>(x: T | undefined): T[] {
  return x === undefined ? [] : [x];
}
