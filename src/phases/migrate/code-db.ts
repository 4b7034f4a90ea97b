import { columnExists, constraintExists, indexExists, tableExists, type TableRef } from "../../catalog/objects.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { InputError } from "../../errors.js";
import { isTransactionControl } from "../../sql/classify.js";
import { localSets } from "../../sql/local-set.js";
import { parseSqlFile } from "../../sql/split.js";
import { strictApi } from "../strict-api.js";

/**
 * What a code migration's `up(db)` receives. Everything runs in the migration's
 * transaction; on a retry the whole `up` runs again, so it should touch only the database.
 *
 * ```ts
 * import type { MigrationDb } from "pgkeel";
 *
 * export async function up(db: MigrationDb): Promise<void> {
 *   if (!(await db.columnExists("leads", "source"))) await db.sql("ALTER TABLE leads ADD COLUMN source text");
 *   const rows = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM leads WHERE source = $1", ["web"]);
 * }
 * ```
 */
export interface MigrationDb {
  /** Runs SQL text (`$1`-style params; several statements only without params) and resolves to the rows of its last statement. */
  sql<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** A table, view or materialized view: `"name"` on the search path, `"schema.name"`, or `{ schema, name }`. Names are exact, never quoted. */
  tableExists(table: TableRef): Promise<boolean>;
  /** A column of that table, by its exact name (`columnExists("users", "Display Name")`). */
  columnExists(table: TableRef, column: string): Promise<boolean>;
  /** An index by name, valid or not: `"name"` on the search path or `"schema.name"`. */
  indexExists(index: TableRef): Promise<boolean>;
  /** A constraint of that table by name (primary key, unique, foreign key, check, exclusion). */
  constraintExists(table: TableRef, name: string): Promise<boolean>;
}

const members = ["sql(text, params?)", "tableExists(table)", "columnExists(table, column)", "indexExists(name)", "constraintExists(table, name)"];

export function migrationDb(ctx: UnitContext, file: string): MigrationDb {
  const db: MigrationDb = {
    async sql(text, params) {
      // pgkeel owns the transaction: refuse transaction control here as in SQL files.
      const parsed = await parseSqlFile(text, file);
      if (parsed.statements.some(isTransactionControl)) {
        throw new InputError({ file }, "db.sql() must not contain transaction control (BEGIN, COMMIT, ...)");
      }
      // A plain SET lasts until the migration's transaction ends, as in a SQL migration.
      const local = await localSets(parsed.statements);
      return ctx.rows(local.size ? parsed.statements.map((s, i) => local.get(i) ?? s.text).join(";\n") : text, params);
    },
    tableExists: (t) => tableExists(ctx, t),
    columnExists: (t, c) => columnExists(ctx, t, c),
    indexExists: (i) => indexExists(ctx, i),
    constraintExists: (t, n) => constraintExists(ctx, t, n),
  };
  return strictApi(db, "db", file, members);
}
