import type { Statement } from "./split.js";

/**
 * What a statement is, read from its parse tree (never from its text): whether
 * PostgreSQL refuses it inside a transaction block, whether it is transaction
 * control. (Locks, rewrites and risks: src/safety.)
 */

const alwaysOutside = new Set([
  "CreatedbStmt", "DropdbStmt", "AlterSystemStmt", "CreateTableSpaceStmt", "DropTableSpaceStmt",
  // Refused when the subscription has a replication slot, which only the catalog knows: assume it has.
  "DropSubscriptionStmt",
]);

/**
 * PostgreSQL refuses this statement inside a transaction block (the statements
 * whose documentation says "cannot be executed inside a transaction block";
 * tests/sql/outside-transaction.test.ts tries each on the server), read from
 * the parse tree. Where only the catalog could tell (a DROP SUBSCRIPTION whose
 * subscription has a slot), it says true: running outside is always allowed.
 * Not seen from the tree: CLUSTER and REINDEX TABLE/INDEX of a partitioned
 * table, which PostgreSQL also refuses in a transaction block.
 */
export function mustRunOutsideTransaction(s: Statement): boolean {
  const n = s.node;
  if (alwaysOutside.has(s.kind)) return true;
  switch (s.kind) {
    case "IndexStmt":
    case "DropStmt":
      return n.concurrent === true;
    case "ReindexStmt":
      return boolOption(n.params, "concurrently") === true || ["REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_SYSTEM", "REINDEX_OBJECT_DATABASE"].includes(String(n.kind));
    case "VacuumStmt":
      return n.is_vacuumcmd === true;
    case "ClusterStmt":
      return n.relation === undefined;
    case "AlterTableStmt":
      return commands(n).some((c) => c.subtype === "AT_DetachPartition" && (c.def as { PartitionCmd?: { concurrent?: boolean } })?.PartitionCmd?.concurrent === true);
    case "AlterDatabaseStmt":
      return hasOption(n.options, "tablespace");
    case "DiscardStmt":
      return n.target === "DISCARD_ALL";
    case "CreateSubscriptionStmt":
      // create_slot defaults to connect, which defaults to true.
      return boolOption(n.options, "create_slot") ?? boolOption(n.options, "connect") ?? true;
    case "AlterSubscriptionStmt":
      if (n.kind === "ALTER_SUBSCRIPTION_REFRESH") return true;
      if (["ALTER_SUBSCRIPTION_SET_PUBLICATION", "ALTER_SUBSCRIPTION_ADD_PUBLICATION", "ALTER_SUBSCRIPTION_DROP_PUBLICATION"].includes(String(n.kind))) {
        return boolOption(n.options, "refresh") ?? true;
      }
      // Changing these may alter the slot, which cannot be rolled back (two_phase only when turned off; either way runs outside).
      return n.kind === "ALTER_SUBSCRIPTION_OPTIONS" && (hasOption(n.options, "failover") || hasOption(n.options, "two_phase"));
    default:
      return false;
  }
}

/** BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION and the like. */
export function isTransactionControl(s: Statement): boolean {
  return s.kind === "TransactionStmt";
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

function commands(n: Record<string, unknown>): Record<string, unknown>[] {
  return ((n.cmds as { AlterTableCmd?: Record<string, unknown> }[] | undefined) ?? []).map((c) => c.AlterTableCmd ?? {});
}

function option(list: unknown, name: string): { arg?: Record<string, Record<string, unknown>> } | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((p) => (p as { DefElem?: { defname?: string; arg?: Record<string, Record<string, unknown>> } }).DefElem).find((d) => d?.defname === name);
}

function hasOption(list: unknown, name: string): boolean {
  return option(list, name) !== undefined;
}

/** A boolean option as PostgreSQL reads it (defGetBoolean): no value is true; true/false, on/off, 1/0. */
function boolOption(list: unknown, name: string): boolean | undefined {
  const d = option(list, name);
  if (!d) return undefined;
  if (!d.arg) return true;
  if (d.arg.Integer) return (d.arg.Integer.ival ?? 0) !== 0;
  const text = String(d.arg.String?.sval ?? (d.arg.TypeName?.names as { String?: { sval?: string } }[] | undefined)?.[0]?.String?.sval ?? "").toLowerCase();
  return !["false", "off", "0", "no"].includes(text);
}
