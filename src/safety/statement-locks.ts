import type { Statement } from "../sql/split.js";
import { lockOn, mergeLocks } from "./locks.js";
import { alterCommands, constraintOf, columnDefOf, findNodes, list, tableFromList, tableOf, unwrap, type Node } from "./sql.js";
import type { LockMode, TableLock, TableName } from "./types.js";

/**
 * Every table lock a statement takes, read from its parse tree, with the mode
 * PostgreSQL takes (tablecmds.c's AlterTableGetLockLevel and friends); checked
 * against pg_locks on a real server by tests/safety/proof.test.ts. Undefined
 * when the statement's locks depend on code pgkeel cannot see (DO, function calls).
 */
export function statementLocks(s: Statement, indexTable: (index: TableName) => TableName | undefined = () => undefined): TableLock[] | undefined {
  const n = s.node;
  const locks: TableLock[] = [];
  const add = (t: TableName | undefined, mode: LockMode) => t && locks.push(lockOn(t, mode));
  switch (s.kind) {
    case "CreateStmt": {
      add(tableOf(n.relation), "ACCESS EXCLUSIVE");
      for (const fk of foreignKeys(n.tableElts)) add(tableOf(fk.pktable), "SHARE ROW EXCLUSIVE");
      for (const p of list(n.inhRelations)) add(tableOf(p), n.partbound ? "ACCESS EXCLUSIVE" : "SHARE UPDATE EXCLUSIVE");
      for (const like of findNodes(n.tableElts, "TableLikeClause")) add(tableOf(like.relation), "ACCESS SHARE");
      break;
    }
    case "IndexStmt":
      add(tableOf(n.relation), n.concurrent ? "SHARE UPDATE EXCLUSIVE" : "SHARE");
      break;
    case "DropStmt":
      if (n.removeType === "OBJECT_TABLE" || n.removeType === "OBJECT_VIEW" || n.removeType === "OBJECT_MATVIEW") {
        for (const o of list(n.objects)) add(tableFromList(o), "ACCESS EXCLUSIVE");
      } else if (n.removeType === "OBJECT_INDEX") {
        for (const o of list(n.objects)) add(indexTable(tableFromList(o)), n.concurrent ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE");
      } else if (n.removeType === "OBJECT_TRIGGER" || n.removeType === "OBJECT_POLICY" || n.removeType === "OBJECT_RULE") {
        // DROP TRIGGER t ON tbl: the name list ends with the trigger's name.
        for (const o of list(n.objects)) {
          const parts = list(unwrap(o, "List")?.items).map((x) => String(unwrap(x, "String")?.sval ?? ""));
          const table = parts.slice(0, -1);
          add(table.length > 1 ? { schema: table[0], name: table[1]! } : { name: table[0] ?? "" }, "ACCESS EXCLUSIVE");
        }
      } else return removesNoTable.has(String(n.removeType)) ? [] : undefined;
      break;
    case "AlterTableStmt": {
      if (n.objtype !== "OBJECT_TABLE" && n.objtype !== "OBJECT_MATVIEW") return undefined;
      const table = tableOf(n.relation);
      for (const c of alterCommands(n)) {
        add(table, alterLock(c));
        for (const fk of foreignKeys([c.def])) add(tableOf(fk.pktable), "SHARE ROW EXCLUSIVE");
        const part = unwrap(c.def, "PartitionCmd");
        if (part && c.subtype === "AT_AttachPartition") add(tableOf(part.name), "ACCESS EXCLUSIVE");
        if (part && c.subtype === "AT_DetachPartition") add(tableOf(part.name), part.concurrent ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE");
      }
      break;
    }
    case "RenameStmt":
      if (!["OBJECT_TABLE", "OBJECT_COLUMN", "OBJECT_TABCONSTRAINT", "OBJECT_VIEW", "OBJECT_MATVIEW"].includes(String(n.renameType))) return undefined;
      add(tableOf(n.relation), "ACCESS EXCLUSIVE");
      break;
    case "ReindexStmt": {
      const mode: LockMode = list(n.params).some((p) => unwrap(p, "DefElem")?.defname === "concurrently") ? "SHARE UPDATE EXCLUSIVE" : "SHARE";
      if (n.kind === "REINDEX_OBJECT_TABLE") add(tableOf(n.relation), mode);
      else if (n.kind === "REINDEX_OBJECT_INDEX") add(indexTable(tableOf(n.relation)), mode);
      else return undefined;
      break;
    }
    case "VacuumStmt": {
      const full = list(n.options).some((o) => unwrap(o, "DefElem")?.defname === "full");
      const rels = list(n.rels).map((r) => tableOf(unwrap(r, "VacuumRelation")?.relation));
      if (!rels.length) return undefined;
      for (const t of rels) add(t, full ? "ACCESS EXCLUSIVE" : "SHARE UPDATE EXCLUSIVE");
      break;
    }
    case "ClusterStmt":
      if (!n.relation) return undefined;
      add(tableOf(n.relation), "ACCESS EXCLUSIVE");
      break;
    case "TruncateStmt":
      for (const r of list(n.relations)) add(tableOf(r), "ACCESS EXCLUSIVE");
      break;
    case "LockStmt":
      for (const r of list(n.relations)) add(tableOf(r), lockStmtModes[Number(n.mode)] ?? "ACCESS EXCLUSIVE");
      break;
    case "InsertStmt":
    case "UpdateStmt":
    case "DeleteStmt":
    case "MergeStmt": {
      const target = tableOf(n.relation);
      add(target, "ROW EXCLUSIVE");
      for (const r of findNodes(withoutKey(n, "relation"), "RangeVar")) add(tableOf(r), "ACCESS SHARE");
      if (s.kind === "UpdateStmt" || s.kind === "DeleteStmt") {
        for (const r of findNodes([n.fromClause, n.usingClause], "RangeVar")) add(tableOf(r), "ACCESS SHARE");
      }
      break;
    }
    case "CreateTrigStmt":
      add(tableOf(n.relation), "SHARE ROW EXCLUSIVE");
      break;
    case "RuleStmt":
    case "CreatePolicyStmt":
    case "AlterPolicyStmt":
      add(tableOf(n.relation ?? n.table), "ACCESS EXCLUSIVE");
      break;
    case "RefreshMatViewStmt":
      add(tableOf(n.relation), n.concurrent ? "EXCLUSIVE" : "ACCESS EXCLUSIVE");
      break;
    case "ViewStmt":
    case "CreateTableAsStmt":
    case "SelectStmt":
      if (findNodes(n, "FuncCall").length && s.kind === "SelectStmt") return undefined;
      for (const r of findNodes(s.kind === "CreateTableAsStmt" ? n.query : n, "RangeVar")) add(tableOf(r), "ACCESS SHARE");
      if (s.kind === "CreateTableAsStmt") add(tableOf(unwrap(n.into, "IntoClause")?.rel), "ACCESS EXCLUSIVE");
      break;
    case "CommentStmt":
      if (n.objtype !== "OBJECT_TABLE" && n.objtype !== "OBJECT_COLUMN") return [];
      add(n.objtype === "OBJECT_TABLE" ? tableFromList(n.object) : tableFromList(dropLast(n.object)), "SHARE UPDATE EXCLUSIVE");
      break;
    case "CreateEnumStmt":
    case "CreateFunctionStmt":
    case "CreateSchemaStmt":
    case "CreateSeqStmt":
    case "CreateDomainStmt":
    case "CompositeTypeStmt":
    case "CreateExtensionStmt":
    case "AlterEnumStmt":
    case "VariableSetStmt":
    case "GrantStmt":
    case "GrantRoleStmt":
    case "CreateRoleStmt":
    case "AlterSeqStmt":
      return [];
    default:
      return undefined;
  }
  return mergeLocks(locks);
}

const removesNoTable = new Set(["OBJECT_TYPE", "OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_SCHEMA", "OBJECT_SEQUENCE", "OBJECT_DOMAIN", "OBJECT_EXTENSION", "OBJECT_ROLE"]);

/** LOCK TABLE's numeric modes (lockdefs.h), 1 = ACCESS SHARE. */
const lockStmtModes: Record<number, LockMode> = {
  1: "ACCESS SHARE", 2: "ROW SHARE", 3: "ROW EXCLUSIVE", 4: "SHARE UPDATE EXCLUSIVE",
  5: "SHARE", 6: "SHARE ROW EXCLUSIVE", 7: "EXCLUSIVE", 8: "ACCESS EXCLUSIVE",
};

/** The lock one ALTER TABLE command takes on its table (AlterTableGetLockLevel). */
export function alterLock(c: Node): LockMode {
  switch (c.subtype) {
    case "AT_EnableTrig": case "AT_EnableAlwaysTrig": case "AT_EnableReplicaTrig": case "AT_EnableTrigAll":
    case "AT_EnableTrigUser": case "AT_DisableTrig": case "AT_DisableTrigAll": case "AT_DisableTrigUser":
      return "SHARE ROW EXCLUSIVE";
    case "AT_AddConstraint":
      return constraintOf(c.def)?.contype === "CONSTR_FOREIGN" ? "SHARE ROW EXCLUSIVE" : "ACCESS EXCLUSIVE";
    case "AT_SetStatistics": case "AT_ClusterOn": case "AT_DropCluster": case "AT_SetOptions": case "AT_ResetOptions":
    case "AT_ValidateConstraint": case "AT_AttachPartition": case "AT_DetachPartitionFinalize":
      return "SHARE UPDATE EXCLUSIVE";
    case "AT_SetRelOptions": case "AT_ResetRelOptions":
      // Storage parameters such as fillfactor and autovacuum_* take SHARE UPDATE EXCLUSIVE; others, to be safe, the strongest.
      return list(c.def).every((d) => weakRelOption(String(unwrap(d, "DefElem")?.defname ?? ""))) ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE";
    case "AT_DetachPartition":
      return unwrap(c.def, "PartitionCmd")?.concurrent ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE";
    default:
      return "ACCESS EXCLUSIVE";
  }
}

function weakRelOption(name: string): boolean {
  return ["fillfactor", "parallel_workers", "toast_tuple_target", "log_autovacuum_min_duration"].includes(name) || name.startsWith("autovacuum_") || name.startsWith("vacuum_");
}

/** Foreign keys among table elements or column definitions (table- and column-level). */
export function foreignKeys(elements: unknown): Node[] {
  const out: Node[] = [];
  for (const e of list(elements)) {
    const con = constraintOf(e);
    if (con?.contype === "CONSTR_FOREIGN") out.push(con);
    for (const cc of list(columnDefOf(e)?.constraints)) {
      const c = constraintOf(cc);
      if (c?.contype === "CONSTR_FOREIGN") out.push(c);
    }
  }
  return out;
}

function withoutKey(n: Node, key: string): Node {
  const { [key]: _drop, ...rest } = n;
  return rest;
}

function dropLast(object: unknown): unknown {
  const items = list(unwrap(object, "List")?.items);
  return { List: { items: items.slice(0, -1) } };
}
