import type { Statement } from "../../sql/split.js";
import { alterCommands, columnDefOf, constraintOf, exprSql, ident, list, objectName, tableOf, tableSql, typeBase, typeSql, type Node } from "../sql.js";
import type { Match, Rule, StatementContext, TableName } from "../types.js";
import { alterSql, backfillFile, batchWhere, lockWords, notNullRecipe, sqlOf } from "./helpers.js";

const serialTypes = ["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"];

/** `ALTER TABLE t ADD COLUMN ...` commands of a statement, with their table. */
function addedColumns(s: Statement): { table: TableName; col: Node }[] {
  if (s.kind !== "AlterTableStmt") return [];
  const table = tableOf(s.node.relation);
  return alterCommands(s.node)
    .filter((c) => c.subtype === "AT_AddColumn")
    .flatMap((c) => {
      const col = columnDefOf(c.def);
      return col ? [{ table, col }] : [];
    });
}

function constraints(col: Node): Node[] {
  return list(col.constraints).flatMap((c) => {
    const k = constraintOf(c);
    return k ? [k] : [];
  });
}

const has = (col: Node, type: string) => constraints(col).some((k) => k.contype === type);

/** Setting a column to NULL-free needs `CHECK ... NOT VALID` first; a plain NOT NULL on ADD COLUMN needs a value. */
export const addingFieldWithDefault: Rule = {
  id: "adding-field-with-default",
  level: "error",
  summary: "ADD COLUMN with a volatile default (or any default before PostgreSQL 11), a serial or a stored generated column rewrites the table",
  lock: "ACCESS EXCLUSIVE on the table, for the whole rewrite",
  check(s, ctx) {
    const out: Match[] = [];
    for (const { table, col } of addedColumns(s)) {
      const def = constraints(col).find((k) => k.contype === "CONSTR_DEFAULT");
      const generated = constraints(col).find((k) => k.contype === "CONSTR_GENERATED" && k.generated_kind !== "v");
      const identity = has(col, "CONSTR_IDENTITY");
      const serial = serialTypes.includes(typeBase(col.typeName));
      let why: string | undefined;
      if (serial || identity) why = `${serial ? typeBase(col.typeName) : "an identity column"} fills every existing row from a sequence`;
      else if (generated) why = "a stored generated column is computed for every existing row";
      else if (def) {
        const volatile = ctx.isVolatile(def.raw_expr);
        if (ctx.serverVersion !== undefined && ctx.serverVersion < 110000) why = `before PostgreSQL 11 any DEFAULT is written into every row (server ${ctx.serverVersion})`;
        else if (volatile === true) why = `DEFAULT ${exprSql(def.raw_expr)} is volatile: it is computed and written for every existing row`;
        else if (volatile === undefined) why = `DEFAULT ${exprSql(def.raw_expr)} calls a function whose volatility is unknown without a database; a volatile one rewrites every row`;
      }
      if (!why) continue;
      const column = String(col.colname);
      const plain: Node = { ...col, constraints: constraints(col).filter((k) => !["CONSTR_DEFAULT", "CONSTR_NOTNULL", "CONSTR_GENERATED", "CONSTR_IDENTITY", "CONSTR_PRIMARY"].includes(String(k.contype))).map((k) => ({ Constraint: k })) };
      if (serial) plain.typeName = { names: [{ String: { sval: typeBase(col.typeName).startsWith("big") || typeBase(col.typeName) === "serial8" ? "int8" : typeBase(col.typeName).startsWith("small") || typeBase(col.typeName) === "serial2" ? "int2" : "int4" } }], typemod: -1 };
      const t = tableSql(table);
      const valueSql = def ? exprSql(def.raw_expr) : generated ? exprSql(generated.raw_expr) : `nextval(pg_get_serial_sequence('${t.replaceAll("'", "''")}', '${column.replaceAll("'", "''")}'))`;
      const fix = [
        `${alterSql(s.node.relation, "AT_AddColumn", { ColumnDef: plain })};`,
        ...(def ? [`ALTER TABLE ${t} ALTER COLUMN ${ident(column)} SET DEFAULT ${exprSql(def.raw_expr)};  -- new rows only`] : []),
        "-- then fill the existing rows in batches:",
        backfillFile(table, ctx, column, sqlOf("UpdateStmt", {
          relation: s.node.relation,
          targetList: [{ ResTarget: { name: column, val: def ? def.raw_expr : generated ? generated.raw_expr : { ColumnRef: { fields: [{ String: { sval: "__pgkeel_value" } }] } } } }],
          whereClause: batchWhere({ NullTest: { arg: { ColumnRef: { fields: [{ String: { sval: column } }] } }, nulltesttype: "IS_NULL" } }, ctx.primaryKey(table) ?? "id"),
        })).replace('"__pgkeel_value"', valueSql).replace("__pgkeel_value", valueSql),
        ...(has(col, "CONSTR_NOTNULL") ? ["-- and once it is filled, make it NOT NULL without a long lock:", notNullRecipe(table, column, ctx)] : []),
      ].join("\n");
      out.push({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "rewrite",
        message: `adding ${column}: ${why}; ${lockWords("ACCESS EXCLUSIVE", table, "rewrite")}`,
        fix,
        sizeMatters: true,
      });
    }
    return out;
  },
  example: {
    bad: "ALTER TABLE big ADD COLUMN token uuid DEFAULT gen_random_uuid()",
    good: "ALTER TABLE big ADD COLUMN token uuid",
  },
};

export const addingRequiredField: Rule = {
  id: "adding-required-field",
  level: "error",
  summary: "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows",
  lock: "ACCESS EXCLUSIVE on the table",
  check(s, ctx) {
    return addedColumns(s)
      .filter(({ col }) => has(col, "CONSTR_NOTNULL") && !has(col, "CONSTR_DEFAULT") && !has(col, "CONSTR_GENERATED") && !has(col, "CONSTR_IDENTITY") && !has(col, "CONSTR_PRIMARY") && !serialTypes.includes(typeBase(col.typeName)))
      .map(({ table, col }) => {
        const column = String(col.colname);
        const nullable = { ...col, constraints: constraints(col).filter((k) => k.contype !== "CONSTR_NOTNULL").map((k) => ({ Constraint: k })) };
        return {
          table,
          locks: [{ table, mode: "ACCESS EXCLUSIVE" as const }],
          effect: "scan" as const,
          message: `${column} is NOT NULL with no DEFAULT: existing rows have no value, so the statement fails once the table has rows (${lockWords("ACCESS EXCLUSIVE", table, "scan")})`,
          fix: [
            `${alterSql(s.node.relation, "AT_AddColumn", { ColumnDef: nullable })};`,
            `-- fill it (a backfill file), then make it NOT NULL without a long lock:`,
            notNullRecipe(table, column, ctx),
            `-- or give it a constant default, free from PostgreSQL 11: ADD COLUMN ${ident(column)} ${typeSql(col.typeName)} NOT NULL DEFAULT <value>`,
          ].join("\n"),
          sizeMatters: true,
        };
      });
  },
  example: {
    bad: "ALTER TABLE big ADD COLUMN tier int NOT NULL",
    good: "ALTER TABLE big ADD COLUMN tier int NOT NULL DEFAULT 0",
  },
};

export const addingNotNullableField: Rule = {
  id: "adding-not-nullable-field",
  level: "error",
  summary: "ALTER COLUMN ... SET NOT NULL reads the whole table under ACCESS EXCLUSIVE, unless a validated CHECK (col IS NOT NULL) proves it (PostgreSQL 12+)",
  lock: "ACCESS EXCLUSIVE on the table, for a full scan",
  check(s, ctx) {
    if (s.kind !== "AlterTableStmt") return [];
    const table = tableOf(s.node.relation);
    return alterCommands(s.node)
      .filter((c) => c.subtype === "AT_SetNotNull")
      .filter((c) => !ctx.provesNotNull(table, String(c.name)))
      .map((c) => ({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" as const }],
        effect: "scan" as const,
        message: `SET NOT NULL on ${String(c.name)} checks every row: ${lockWords("ACCESS EXCLUSIVE", table, "scan")}`,
        fix: notNullRecipe(table, String(c.name), ctx),
        sizeMatters: true,
      }));
  },
  example: {
    setup: "ALTER TABLE big ALTER COLUMN note DROP NOT NULL",
    bad: "ALTER TABLE big ALTER COLUMN note SET NOT NULL",
    good: "ALTER TABLE big ADD CONSTRAINT big_note_not_null CHECK (note IS NOT NULL) NOT VALID",
  },
};

export const changingColumnType: Rule = {
  id: "changing-column-type",
  level: "error",
  summary: "ALTER COLUMN ... TYPE rewrites the table and its indexes, unless the server finds the change binary-coercible (varchar(n) to varchar(m >= n) or text, ...)",
  lock: "ACCESS EXCLUSIVE on the table, for the whole rewrite",
  check(s, ctx) {
    if (s.kind !== "AlterTableStmt") return [];
    const table = tableOf(s.node.relation);
    const out: Match[] = [];
    for (const c of alterCommands(s.node).filter((x) => x.subtype === "AT_AlterColumnType")) {
      const def = columnDefOf(c.def) ?? {};
      const column = String(c.name);
      const probe = ctx.typeChangeRewrites(table, column, def.typeName, def.raw_default);
      if (probe.rewrites === false) continue;
      const to = typeSql(def.typeName);
      const known =
        probe.rewrites === true
          ? `from ${probe.from ?? "its type"} to ${to}: not binary-coercible, so it rewrites every row`
          : `to ${to}: ${ctx.online ? "the server cannot tell" : "without a database pgkeel cannot tell"} whether that is binary-coercible from the current type, and most type changes rewrite every row`;
      out.push({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "rewrite",
        message: `changing ${column} ${known}; ${lockWords("ACCESS EXCLUSIVE", table, "rewrite")}`,
        fix: typeChangeFix(table, column, def, probe.from, ctx),
        sizeMatters: true,
      });
    }
    return out;
  },
  example: {
    bad: "ALTER TABLE big ALTER COLUMN n TYPE bigint",
    good: "ALTER TABLE big ALTER COLUMN code TYPE varchar(40)",
  },
};

const textTypes = ["text", "varchar", "character varying"];

function typeChangeFix(table: TableName, column: string, def: Node, from: string | undefined, ctx: StatementContext): string {
  const t = tableSql(table);
  const base = typeBase(def.typeName);
  const limit = list((def.typeName as Node | undefined)?.typmods)[0];
  const fromText = from === undefined || textTypes.some((x) => from === x || from.startsWith(`${x}(`));
  if (base === "varchar" && limit && fromText && !def.raw_default) {
    // A length limit needs no new type: a CHECK constraint says the same and validates without blocking.
    const name = objectName(table.name, column, "length");
    return [
      `ALTER TABLE ${t} ADD CONSTRAINT ${ident(name)} CHECK (char_length(${ident(column)}) <= ${exprSql(limit)}) NOT VALID;`,
      "-- then, in a following migration (SHARE UPDATE EXCLUSIVE: reads and writes go on):",
      `ALTER TABLE ${t} VALIDATE CONSTRAINT ${ident(name)};`,
    ].join("\n");
  }
  const fresh = objectName(column, "new");
  const fn = objectName(table.name, column, "sync");
  const using = def.raw_default ? `(${exprSql(def.raw_default)})` : `NEW.${ident(column)}::${typeSql(def.typeName)}`;
  return [
    `ALTER TABLE ${t} ADD COLUMN ${ident(fresh)} ${typeSql(def.typeName)};`,
    `CREATE FUNCTION ${ident(fn)}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.${ident(fresh)} := ${using}; RETURN NEW; END $$;`,
    `CREATE TRIGGER ${ident(fn)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${ident(fn)}();`,
    "-- then copy the existing rows in batches:",
    backfillFile(table, ctx, fresh, `UPDATE ${t} SET ${ident(fresh)} = ${def.raw_default ? exprSql(def.raw_default) : `${ident(column)}::${typeSql(def.typeName)}`} WHERE ${ident(ctx.primaryKey(table) ?? "id")} BETWEEN __pgkeel_from AND __pgkeel_to`),
    "-- and swap in one short migration once it is done:",
    `ALTER TABLE ${t} RENAME COLUMN ${ident(column)} TO ${ident(objectName(column, "old"))};`,
    `ALTER TABLE ${t} RENAME COLUMN ${ident(fresh)} TO ${ident(column)};`,
    `DROP TRIGGER ${ident(fn)} ON ${t};`,
  ].join("\n");
}

export const addingSerialPrimaryKeyField: Rule = {
  id: "adding-serial-primary-key-field",
  level: "error",
  summary: "ADD PRIMARY KEY (or a new column with PRIMARY KEY) builds its index under ACCESS EXCLUSIVE",
  lock: "ACCESS EXCLUSIVE on the table, for the index build",
  check(s, ctx) {
    if (s.kind !== "AlterTableStmt") return [];
    const table = tableOf(s.node.relation);
    const out: Match[] = [];
    for (const c of alterCommands(s.node)) {
      const con = constraintOf(c.def);
      const col = columnDefOf(c.def);
      const pkColumns =
        c.subtype === "AT_AddConstraint" && con?.contype === "CONSTR_PRIMARY" && !con.indexname
          ? list(con.keys).map((k) => String((k as { String?: { sval?: string } }).String?.sval))
          : c.subtype === "AT_AddColumn" && col && has(col, "CONSTR_PRIMARY")
            ? [String(col.colname)]
            : undefined;
      if (!pkColumns) continue;
      const name = String(con?.conname ?? objectName(table.name, "pkey"));
      const t = tableSql(table);
      out.push({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: col ? "rewrite" : "scan",
        message: `adding a primary key builds a unique index${col ? " and fills the new column in every row" : ""}: ${lockWords("ACCESS EXCLUSIVE", table, col ? "rewrite" : "scan")}`,
        fix: [
          ...(col ? [`-- add ${ident(String(col.colname))} without PRIMARY KEY first (nullable, filled by a backfill), then:`] : []),
          `CREATE UNIQUE INDEX CONCURRENTLY ${ident(name)} ON ${t} (${pkColumns.map(ident).join(", ")});  -- its own migration: pgkeel runs it outside a transaction`,
          "-- then, in a following migration (the columns must be NOT NULL already; see adding-not-nullable-field):",
          `ALTER TABLE ${t} ADD CONSTRAINT ${ident(name)} PRIMARY KEY USING INDEX ${ident(name)};`,
        ].join("\n"),
        sizeMatters: true,
      });
      void ctx;
    }
    return out;
  },
  example: {
    setup: "ALTER TABLE big DROP CONSTRAINT big_pkey",
    bad: "ALTER TABLE big ADD PRIMARY KEY (id)",
    good: "CREATE UNIQUE INDEX CONCURRENTLY big_pkey ON big (id)",
  },
};
