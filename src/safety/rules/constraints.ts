import type { Statement } from "../../sql/split.js";
import { alterCommands, columnDefOf, constraintOf, findNodes, ident, list, objectName, strings, tableOf, tableSql, type Node } from "../sql.js";
import type { Match, Rule, TableName } from "../types.js";
import { alterSql, lockWords, notValidFix } from "./helpers.js";

/** Constraints an ALTER TABLE adds, table-level or on a new column. */
function addedConstraints(s: Statement): { table: TableName; con: Node; column?: Node; cmd: Node }[] {
  if (s.kind !== "AlterTableStmt") return [];
  const table = tableOf(s.node.relation);
  return alterCommands(s.node).flatMap((cmd) => {
    const con = constraintOf(cmd.def);
    if (cmd.subtype === "AT_AddConstraint" && con) return [{ table, con, cmd }];
    const column = columnDefOf(cmd.def);
    if (cmd.subtype === "AT_AddColumn" && column) {
      return list(column.constraints).flatMap((c) => {
        const k = constraintOf(c);
        return k ? [{ table, con: k, column, cmd }] : [];
      });
    }
    return [];
  });
}

/** `ALTER TABLE t VALIDATE CONSTRAINT c` run in the same migration that added c NOT VALID. */
function validatedTooSoon(s: Statement, ctx: Parameters<Rule["check"]>[1], type: string): { table: TableName; name: string }[] {
  if (s.kind !== "AlterTableStmt" || !ctx.transactional) return [];
  const table = tableOf(s.node.relation);
  return alterCommands(s.node)
    .filter((c) => c.subtype === "AT_ValidateConstraint" && ctx.addedNotValidHere(table, String(c.name)) === type)
    .map((c) => ({ table, name: String(c.name) }));
}

function tooSoonMatch(table: TableName, name: string, locks: Match["locks"]): Match {
  return {
    table,
    locks,
    effect: "scan",
    message: `VALIDATE CONSTRAINT ${name} runs in the same transaction that added it NOT VALID: the lock taken by ADD is still held while VALIDATE reads the whole table`,
    fix: `-- move this line to a following migration:\nALTER TABLE ${tableSql(table)} VALIDATE CONSTRAINT ${ident(name)};`,
    sizeMatters: true,
  };
}

export const constraintMissingNotValid: Rule = {
  id: "constraint-missing-not-valid",
  level: "error",
  summary: "ADD CONSTRAINT ... CHECK without NOT VALID reads the whole table under ACCESS EXCLUSIVE (and so does VALIDATE in the same transaction)",
  lock: "ACCESS EXCLUSIVE on the table, for a full scan",
  check(s, ctx) {
    const out: Match[] = [];
    for (const { table, con, column } of addedConstraints(s)) {
      if (con.contype !== "CONSTR_CHECK" || con.skip_validation || column) continue;
      const name = String(con.conname ?? objectName(table.name, ...findNodes(con.raw_expr, "ColumnRef").slice(0, 1).flatMap((r) => strings(r.fields)), "check"));
      out.push({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "scan",
        message: `CHECK constraint ${name} is validated at once: ${lockWords("ACCESS EXCLUSIVE", table, "scan")}`,
        fix: notValidFix(s.node.relation, table, { ...con, conname: name }),
        sizeMatters: true,
      });
    }
    for (const v of validatedTooSoon(s, ctx, "CONSTR_CHECK")) out.push(tooSoonMatch(v.table, v.name, [{ table: v.table, mode: "ACCESS EXCLUSIVE" }]));
    return out;
  },
  example: {
    bad: "ALTER TABLE big ADD CONSTRAINT big_n_positive CHECK (n > 0)",
    good: "ALTER TABLE big ADD CONSTRAINT big_n_positive CHECK (n > 0) NOT VALID",
  },
};

export const addingForeignKeyConstraint: Rule = {
  id: "adding-foreign-key-constraint",
  level: "error",
  summary: "ADD FOREIGN KEY without NOT VALID reads the whole table while both tables are locked against writes",
  lock: "SHARE ROW EXCLUSIVE on the table and on the referenced table, for a full scan",
  check(s, ctx) {
    const out: Match[] = [];
    for (const { table, con, column } of addedConstraints(s)) {
      if (con.contype !== "CONSTR_FOREIGN" || con.skip_validation) continue;
      const referenced = tableOf(con.pktable);
      const fkColumns = column ? [String(column.colname)] : strings(con.fk_attrs);
      const name = String(con.conname ?? objectName(table.name, ...fkColumns, "fkey"));
      const constraint = { ...con, conname: name, fk_attrs: fkColumns.map((c) => ({ String: { sval: c } })) };
      const addColumn = column
        ? `${alterSql(s.node.relation, "AT_AddColumn", { ColumnDef: { ...column, constraints: list(column.constraints).filter((c) => constraintOf(c)?.contype !== "CONSTR_FOREIGN") } })};\n`
        : "";
      out.push({
        table,
        locks: [
          { table, mode: "SHARE ROW EXCLUSIVE" },
          { table: referenced, mode: "SHARE ROW EXCLUSIVE" },
        ],
        effect: "scan",
        message: `foreign key ${name} to ${tableSql(referenced)} is validated at once: SHARE ROW EXCLUSIVE on ${tableSql(table)} and ${tableSql(referenced)} blocks writes to both while it reads the whole of ${tableSql(table)}`,
        fix: addColumn + notValidFix(s.node.relation, table, constraint),
        sizeMatters: true,
      });
    }
    for (const v of validatedTooSoon(s, ctx, "CONSTR_FOREIGN")) out.push(tooSoonMatch(v.table, v.name, [{ table: v.table, mode: "SHARE ROW EXCLUSIVE" }]));
    return out;
  },
  example: {
    bad: "ALTER TABLE big ADD CONSTRAINT big_ref_fk FOREIGN KEY (ref_id) REFERENCES ref (id)",
    good: "ALTER TABLE big ADD CONSTRAINT big_ref_fk FOREIGN KEY (ref_id) REFERENCES ref (id) NOT VALID",
  },
};

export const disallowedUniqueConstraint: Rule = {
  id: "disallowed-unique-constraint",
  level: "error",
  summary: "ADD UNIQUE (or EXCLUDE) builds its index under ACCESS EXCLUSIVE; build it concurrently and attach it with USING INDEX",
  lock: "ACCESS EXCLUSIVE on the table, for the index build",
  check(s) {
    const out: Match[] = [];
    for (const { table, con, column } of addedConstraints(s)) {
      if ((con.contype !== "CONSTR_UNIQUE" && con.contype !== "CONSTR_EXCLUSION") || con.indexname) continue;
      const columns = column ? [String(column.colname)] : strings(con.keys);
      const name = String(con.conname ?? objectName(table.name, ...columns, con.contype === "CONSTR_UNIQUE" ? "key" : "excl"));
      const t = tableSql(table);
      out.push({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "scan",
        message: `${con.contype === "CONSTR_UNIQUE" ? "UNIQUE" : "EXCLUDE"} constraint ${name} builds its index: ${lockWords("ACCESS EXCLUSIVE", table, "scan")}`,
        fix:
          con.contype === "CONSTR_UNIQUE"
            ? [
                `CREATE UNIQUE INDEX CONCURRENTLY ${ident(name)} ON ${t} (${columns.map(ident).join(", ")});  -- its own migration: pgkeel runs it outside a transaction`,
                "-- then, in a following migration (a brief ACCESS EXCLUSIVE, no scan):",
                `ALTER TABLE ${t} ADD CONSTRAINT ${ident(name)} UNIQUE USING INDEX ${ident(name)};`,
              ].join("\n")
            : "-- an exclusion constraint cannot be attached from a concurrently built index: run it in a quiet window, with -- pgkeel:allow disallowed-unique-constraint <reason>",
        sizeMatters: true,
      });
    }
    return out;
  },
  example: {
    bad: "ALTER TABLE big ADD CONSTRAINT big_email_key UNIQUE (email)",
    good: "CREATE UNIQUE INDEX CONCURRENTLY big_email_key ON big (email)",
  },
};
