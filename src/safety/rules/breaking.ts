import { alterCommands, ident, list, tableFromList, tableOf, tableSql } from "../sql.js";
import type { Match, Rule } from "../types.js";

/**
 * Changes that break clients already running (they still use the old name or
 * column), whatever the table's size: the lock is short, the outage is not.
 */

export const renamingColumn: Rule = {
  id: "renaming-column",
  level: "error",
  summary: "RENAME COLUMN breaks every running client that still uses the old name",
  lock: "ACCESS EXCLUSIVE on the table (brief)",
  check(s, ctx) {
    if (s.kind !== "RenameStmt" || s.node.renameType !== "OBJECT_COLUMN" || s.node.relationType !== "OBJECT_TABLE") return [];
    const table = tableOf(s.node.relation);
    const [from, to] = [String(s.node.subname), String(s.node.newname)];
    const t = tableSql(table);
    const type = ctx.columnType(table, from) ?? `<type of ${from}>`;
    const fn = `${table.name}_${to}_sync`.slice(0, 63);
    return [
      {
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "none",
        message: `renaming ${from} to ${to}: code deployed now still reads and writes ${from} and fails until every client is redeployed`,
        fix: [
          `ALTER TABLE ${t} ADD COLUMN ${ident(to)} ${type};`,
          `CREATE FUNCTION ${ident(fn)}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.${ident(to)} := coalesce(NEW.${ident(to)}, NEW.${ident(from)}); NEW.${ident(from)} := coalesce(NEW.${ident(from)}, NEW.${ident(to)}); RETURN NEW; END $$;`,
          `CREATE TRIGGER ${ident(fn)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${ident(fn)}();`,
          `-- copy ${from} into ${to} with a backfill file, move the code to ${to}, then drop ${from} and the trigger in a later migration`,
        ].join("\n"),
        sizeMatters: false,
      },
    ];
  },
  example: {
    bad: "ALTER TABLE big RENAME COLUMN email TO email_address",
    good: "ALTER TABLE big ADD COLUMN email_address text",
  },
};

export const renamingTable: Rule = {
  id: "renaming-table",
  level: "error",
  summary: "RENAME TO breaks every running client that still uses the old table name",
  lock: "ACCESS EXCLUSIVE on the table (brief)",
  check(s) {
    if (s.kind !== "RenameStmt" || s.node.renameType !== "OBJECT_TABLE") return [];
    const table = tableOf(s.node.relation);
    const to = { schema: table.schema, name: String(s.node.newname) };
    return [
      {
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "none",
        message: `renaming ${tableSql(table)} to ${tableSql(to)}: code deployed now still uses ${tableSql(table)} and fails until every client is redeployed`,
        fix: [
          `ALTER TABLE ${tableSql(table)} RENAME TO ${ident(to.name)};`,
          `CREATE VIEW ${tableSql(table)} AS SELECT * FROM ${tableSql(to)};  -- old clients keep working: a simple view is updatable`,
          `-- drop the view in a later migration, once no deployed code uses ${tableSql(table)}`,
        ].join("\n"),
        sizeMatters: false,
      },
    ];
  },
  example: {
    bad: "ALTER TABLE big RENAME TO big_renamed",
    good: "CREATE VIEW big_renamed AS SELECT * FROM big",
  },
};

const laterWithAllow = (rule: string, what: string, sql: string) =>
  [`-- 1. deploy code that no longer uses ${what}`, "-- 2. then, in a later migration:", `-- pgkeel:allow ${rule} no deployed code uses ${what}`, `${sql};`].join("\n");

export const banDropColumn: Rule = {
  id: "ban-drop-column",
  level: "error",
  summary: "DROP COLUMN breaks running clients that still read or write the column",
  lock: "ACCESS EXCLUSIVE on the table (brief; no rewrite)",
  check(s) {
    if (s.kind !== "AlterTableStmt") return [];
    const table = tableOf(s.node.relation);
    return alterCommands(s.node)
      .filter((c) => c.subtype === "AT_DropColumn")
      .map((c): Match => ({
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "none",
        message: `dropping ${String(c.name)}: code deployed now that reads or writes it fails, and the data is gone`,
        fix: laterWithAllow("ban-drop-column", `${tableSql(table)}.${ident(String(c.name))}`, `ALTER TABLE ${tableSql(table)} DROP COLUMN ${c.missing_ok ? "IF EXISTS " : ""}${ident(String(c.name))}`),
        sizeMatters: false,
      }));
  },
  example: {
    bad: "ALTER TABLE big DROP COLUMN code",
    good: "ALTER TABLE big ALTER COLUMN code DROP DEFAULT",
  },
};

export const banDropTable: Rule = {
  id: "ban-drop-table",
  level: "error",
  summary: "DROP TABLE breaks running clients and destroys the data",
  lock: "ACCESS EXCLUSIVE on the table (and on tables its foreign keys reference)",
  check(s) {
    if (s.kind !== "DropStmt" || s.node.removeType !== "OBJECT_TABLE") return [];
    return list(s.node.objects).map((o): Match => {
      const table = tableFromList(o);
      return {
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "none",
        message: `dropping ${tableSql(table)}: code deployed now that uses it fails, and the data is gone`,
        fix: laterWithAllow("ban-drop-table", tableSql(table), `DROP TABLE ${s.node.missing_ok ? "IF EXISTS " : ""}${tableSql(table)}`),
        sizeMatters: false,
      };
    });
  },
  example: {
    bad: "DROP TABLE big",
    good: "DROP VIEW IF EXISTS big_view",
  },
};

export const banTruncateCascade: Rule = {
  id: "ban-truncate-cascade",
  level: "error",
  summary: "TRUNCATE ... CASCADE empties every table that references this one, too",
  lock: "ACCESS EXCLUSIVE on the table and on every table referencing it",
  check(s) {
    if (s.kind !== "TruncateStmt" || s.node.behavior !== "DROP_CASCADE") return [];
    return list(s.node.relations).map((r): Match => {
      const table = tableOf(r);
      return {
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "none",
        message: `TRUNCATE ${tableSql(table)} CASCADE also empties every table with a foreign key to it, however indirectly`,
        fix: `TRUNCATE ${tableSql(table)};  -- without CASCADE, PostgreSQL names the referencing tables instead of emptying them`,
        sizeMatters: false,
      };
    });
  },
  example: {
    bad: "TRUNCATE big CASCADE",
    good: "TRUNCATE ref",
  },
};

export const banDropDatabase: Rule = {
  id: "ban-drop-database",
  level: "error",
  summary: "DROP DATABASE in a migration",
  lock: "the whole database (no sessions may be connected)",
  check(s) {
    if (s.kind !== "DropdbStmt") return [];
    return [
      {
        locks: [],
        effect: "none",
        message: `DROP DATABASE ${ident(String(s.node.dbname))} destroys a whole database from a migration`,
        fix: "-- drop databases by hand, not from a migration that runs on every environment",
        sizeMatters: false,
      },
    ];
  },
  example: {
    bad: "DROP DATABASE IF EXISTS pgkeel_no_such_database",
    good: "SELECT 1",
  },
};
