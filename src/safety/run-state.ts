import type { Statement } from "../sql/split.js";
import { alterCommands, constraintOf, findNodes, key, list, tableFromList, tableOf, unwrap } from "./sql.js";
import type { TableName } from "./types.js";

/**
 * What the pending migrations do to the schema as they run, statement by
 * statement: tables created (new, empty, blocking nobody), renamed, dropped;
 * NOT NULL checks validated; constraints added NOT VALID in the current
 * migration (validating them in the same transaction keeps the strong lock).
 */
export class RunState {
  private readonly created = new Set<string>();
  private readonly dropped = new Set<string>();
  /** New name -> the name the table had before this run renamed it. */
  private readonly renamedFrom = new Map<string, TableName>();
  private readonly notNullChecks = new Map<string, Set<string>>();
  /** Constraint name -> the columns its CHECK (col IS NOT NULL) covers, added NOT VALID in this run. */
  private readonly pendingChecks = new Map<string, { table: string; columns: string[] }>();
  /** Constraint -> its type, added NOT VALID in the current migration. */
  private notValidHere = new Map<string, string>();
  /** Indexes created in this run -> their table. */
  private readonly indexes = new Map<string, TableName>();
  /** New name -> the name an existing index had before this run renamed it. */
  private readonly indexRenamedFrom = new Map<string, TableName>();

  /** Call at the start of each migration: "same migration" facts reset. */
  startMigration(): void {
    this.notValidHere = new Map();
  }

  isNew(t: TableName): boolean {
    return this.created.has(key(t)) && !this.dropped.has(key(t));
  }

  /** The name to ask the database about: where a table renamed in this run came from. */
  original(t: TableName): TableName {
    return this.renamedFrom.get(key(t)) ?? t;
  }

  provesNotNull(t: TableName, column: string): boolean {
    return this.notNullChecks.get(key(t))?.has(column) ?? false;
  }

  /** The type (CONSTR_CHECK, CONSTR_FOREIGN) of a constraint added NOT VALID earlier in this migration. */
  addedNotValidHere(t: TableName, constraint: string): string | undefined {
    return this.notValidHere.get(`${key(t)}:${constraint}`);
  }

  /** The table of an index created earlier in this run. */
  indexTable(index: TableName): TableName | undefined {
    return this.indexes.get(key(index));
  }

  /** The name to ask the database about: where an index renamed in this run came from. */
  originalIndex(index: TableName): TableName {
    return this.indexRenamedFrom.get(key(index)) ?? index;
  }

  /** Records what `s` does, after the rules have judged it. */
  apply(s: Statement): void {
    const n = s.node;
    if (s.kind === "CreateStmt") this.create(tableOf(n.relation));
    if (s.kind === "IndexStmt" && n.idxname) {
      const t = tableOf(n.relation);
      this.indexes.set(key({ schema: t.schema, name: String(n.idxname) }), t);
    }
    if (s.kind === "CreateTableAsStmt") this.create(tableOf(unwrap(n.into, "IntoClause")?.rel));
    if (s.kind === "DropStmt" && n.removeType === "OBJECT_TABLE") for (const o of list(n.objects)) this.dropped.add(key(tableFromList(o)));
    if (s.kind === "RenameStmt" && n.renameType === "OBJECT_TABLE") {
      const from = tableOf(n.relation);
      const to: TableName = { schema: from.schema, name: String(n.newname) };
      if (this.isNew(from)) this.create(to);
      else this.renamedFrom.set(key(to), this.original(from));
    }
    if (s.kind === "RenameStmt" && n.renameType === "OBJECT_INDEX") {
      const from = tableOf(n.relation);
      const to: TableName = { schema: from.schema, name: String(n.newname) };
      const table = this.indexes.get(key(from));
      if (table) this.indexes.set(key(to), table);
      else this.indexRenamedFrom.set(key(to), this.originalIndex(from));
    }
    if (s.kind === "AlterTableStmt") {
      const t = tableOf(n.relation);
      for (const c of alterCommands(n)) {
        const con = constraintOf(c.def);
        if (c.subtype === "AT_AddConstraint" && con?.contype === "CONSTR_CHECK") {
          const columns = notNullColumnsOf(con.raw_expr);
          if (con.skip_validation) {
            if (con.conname) this.pendingChecks.set(`${key(t)}:${con.conname}`, { table: key(t), columns });
          } else this.markNotNull(t, columns);
        }
        if (c.subtype === "AT_AddConstraint" && con?.skip_validation && con.conname) this.notValidHere.set(`${key(t)}:${con.conname}`, String(con.contype));
        if (c.subtype === "AT_ValidateConstraint") {
          const pending = this.pendingChecks.get(`${key(t)}:${String(c.name)}`);
          if (pending) this.markNotNull(t, pending.columns);
        }
      }
    }
  }

  private create(t: TableName): void {
    this.created.add(key(t));
    this.dropped.delete(key(t));
  }

  private markNotNull(t: TableName, columns: readonly string[]): void {
    const set = this.notNullChecks.get(key(t)) ?? new Set<string>();
    for (const c of columns) set.add(c);
    this.notNullChecks.set(key(t), set);
  }
}

/** Columns that a CHECK expression proves NOT NULL: `col IS NOT NULL`, alone or ANDed. */
export function notNullColumnsOf(expr: unknown): string[] {
  const out: string[] = [];
  const visit = (e: unknown) => {
    const b = unwrap(e, "BoolExpr");
    if (b?.boolop === "AND_EXPR") return list(b.args).forEach(visit);
    const nt = unwrap(e, "NullTest");
    if (nt?.nulltesttype !== "IS_NOT_NULL") return;
    const fields = findNodes(nt.arg, "String").map((x) => String(x.sval));
    if (unwrap(nt.arg, "ColumnRef") && fields.length === 1) out.push(fields[0]!);
  };
  visit(expr);
  return out;
}
