import { columnExists, constraintExists, indexExists, tableExists, type TableRef } from "../../catalog/objects.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { InputError } from "../../errors.js";
import { isTransactionControl } from "../../sql/classify.js";
import { parseSqlFile } from "../../sql/split.js";

/** What a code migration's `up(db)` receives. Everything runs in the migration's transaction. */
export interface MigrationDb {
  /** Runs SQL (`$1`-style params) and resolves to the rows it returned. */
  sql<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  tableExists(table: TableRef): Promise<boolean>;
  columnExists(table: TableRef, column: string): Promise<boolean>;
  indexExists(index: TableRef): Promise<boolean>;
  constraintExists(table: TableRef, name: string): Promise<boolean>;
}

export function migrationDb(ctx: UnitContext, file: string): MigrationDb {
  return {
    async sql(text, params) {
      // pgkeel owns the transaction: refuse transaction control here as in SQL files.
      const parsed = await parseSqlFile(text, file);
      if (parsed.statements.some(isTransactionControl)) {
        throw new InputError({ file }, "db.sql() must not contain transaction control (BEGIN, COMMIT, ...)");
      }
      return ctx.rows(text, params);
    },
    tableExists: (t) => tableExists(ctx, t),
    columnExists: (t, c) => columnExists(ctx, t, c),
    indexExists: (i) => indexExists(ctx, i),
    constraintExists: (t, n) => constraintExists(ctx, t, n),
  };
}
