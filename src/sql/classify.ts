import type { Statement } from "./split.js";

/**
 * What a statement is, read from its parse tree (never from its text): whether
 * PostgreSQL refuses it inside a transaction block, whether it is transaction
 * control, whether it changes data, which lock it takes.
 */

const alwaysOutside = new Set([
  "CreatedbStmt", "DropdbStmt", "AlterSystemStmt", "CreateTableSpaceStmt", "DropTableSpaceStmt",
  "CreateSubscriptionStmt", "DropSubscriptionStmt",
]);

/** PostgreSQL refuses this statement inside a transaction block. */
export function mustRunOutsideTransaction(s: Statement): boolean {
  const n = s.node;
  if (alwaysOutside.has(s.kind)) return true;
  if (s.kind === "IndexStmt" || s.kind === "DropStmt") return n.concurrent === true;
  if (s.kind === "ReindexStmt") return hasOption(n.params, "concurrently") || n.kind === "REINDEX_OBJECT_SYSTEM" || n.kind === "REINDEX_OBJECT_DATABASE";
  if (s.kind === "VacuumStmt") return n.is_vacuumcmd === true;
  if (s.kind === "ClusterStmt") return n.relation === undefined;
  if (s.kind === "AlterTableStmt") {
    return commands(n).some((c) => c.subtype === "AT_DetachPartition" && (c.def as { PartitionCmd?: { concurrent?: boolean } })?.PartitionCmd?.concurrent === true);
  }
  return false;
}

/** BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION and the like. */
export function isTransactionControl(s: Statement): boolean {
  return s.kind === "TransactionStmt";
}

/** Changes rows rather than schema: worth a warning inside a migration. */
export function isDataChange(s: Statement): boolean {
  return ["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CopyStmt"].includes(s.kind);
}

/** A non-concurrent index build on an existing table blocks its writes. */
export function isBlockingIndexBuild(s: Statement): boolean {
  return s.kind === "IndexStmt" && s.node.concurrent !== true;
}

/** Statements that may rewrite a whole table under an ACCESS EXCLUSIVE lock. */
export function mayRewriteTable(s: Statement): boolean {
  if (s.kind !== "AlterTableStmt") return false;
  return commands(s.node).some((c) => ["AT_AlterColumnType", "AT_SetLogged", "AT_SetUnLogged", "AT_SetAccessMethod"].includes(String(c.subtype)));
}

/** Re-running the statement after an unknown outcome is harmless. */
export function isSafeToRepeat(s: Statement): boolean {
  const n = s.node;
  if (["VacuumStmt", "ReindexStmt", "ClusterStmt", "RefreshMatViewStmt"].includes(s.kind)) return true;
  if (s.kind === "DropStmt") return n.missing_ok === true;
  if (s.kind === "IndexStmt") return n.if_not_exists === true;
  if (s.kind === "AlterEnumStmt") return n.skipIfNewValExists === true;
  return false;
}

/** The strongest table lock the statement takes, as `plan` reports it. */
export function lockTaken(s: Statement): string {
  const n = s.node;
  switch (s.kind) {
    case "IndexStmt":
      return n.concurrent ? "SHARE UPDATE EXCLUSIVE" : "SHARE";
    case "DropStmt":
      return n.concurrent ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE";
    case "AlterTableStmt": {
      const subtypes = commands(n).map((c) => String(c.subtype));
      const weak = ["AT_ValidateConstraint", "AT_SetStatistics", "AT_ClusterOn", "AT_SetRelOptions", "AT_ResetRelOptions"];
      if (subtypes.length && subtypes.every((t) => weak.includes(t))) return "SHARE UPDATE EXCLUSIVE";
      if (subtypes.length && subtypes.every((t) => t === "AT_AddConstraint" && isForeignKey(commands(n)))) return "SHARE ROW EXCLUSIVE";
      return "ACCESS EXCLUSIVE";
    }
    case "InsertStmt":
    case "UpdateStmt":
    case "DeleteStmt":
    case "MergeStmt":
      return "ROW EXCLUSIVE";
    case "CreateStmt":
    case "CreateEnumStmt":
    case "CreateFunctionStmt":
    case "CreateSchemaStmt":
    case "CreateSeqStmt":
    case "ViewStmt":
    case "DoStmt":
    case "CommentStmt":
      return "none on existing tables";
    case "VacuumStmt":
      return "SHARE UPDATE EXCLUSIVE";
    case "RenameStmt":
    case "AlterEnumStmt":
    case "CreateTrigStmt":
    case "RuleStmt":
    case "TruncateStmt":
      return s.kind === "CreateTrigStmt" ? "SHARE ROW EXCLUSIVE" : "ACCESS EXCLUSIVE";
    default:
      return "depends on the statement";
  }
}

function commands(n: Record<string, unknown>): Record<string, unknown>[] {
  return ((n.cmds as { AlterTableCmd?: Record<string, unknown> }[] | undefined) ?? []).map((c) => c.AlterTableCmd ?? {});
}

function isForeignKey(cmds: Record<string, unknown>[]): boolean {
  return cmds.every((c) => (c.def as { Constraint?: { contype?: string } })?.Constraint?.contype === "CONSTR_FOREIGN");
}

function hasOption(params: unknown, name: string): boolean {
  return Array.isArray(params) && params.some((p) => (p as { DefElem?: { defname?: string } }).DefElem?.defname === name);
}
