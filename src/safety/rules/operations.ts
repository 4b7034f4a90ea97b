import { alterCommands, deparse, exprSql, ident, list, tableOf, tableSql, unwrap } from "../sql.js";
import type { Match, Rule } from "../types.js";
import { backfillFile, batchWhere, lockWords, sqlOf } from "./helpers.js";

export const requireConcurrentPartitionDetach: Rule = {
  id: "require-concurrent-partition-detach",
  level: "error",
  summary: "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the parent and the partition (PostgreSQL 14+ can do it concurrently)",
  lock: "ACCESS EXCLUSIVE on the partitioned table and the partition",
  check(s, ctx) {
    if (s.kind !== "AlterTableStmt") return [];
    const parent = tableOf(s.node.relation);
    const detaches = alterCommands(s.node).filter((c) => c.subtype === "AT_DetachPartition" && !unwrap(c.def, "PartitionCmd")?.concurrent);
    if (!detaches.length || (ctx.serverVersion !== undefined && ctx.serverVersion < 140000)) return [];
    return detaches.map((c): Match => {
        const partition = tableOf(unwrap(c.def, "PartitionCmd")?.name);
        return {
          table: parent,
          locks: [
            { table: parent, mode: "ACCESS EXCLUSIVE" },
            { table: partition, mode: "ACCESS EXCLUSIVE" },
          ],
          effect: "none",
          message: `detaching ${tableSql(partition)}: ${lockWords("ACCESS EXCLUSIVE", parent, "none")} and waits behind every query on it`,
          fix: `ALTER TABLE ${tableSql(parent)} DETACH PARTITION ${tableSql(partition)} CONCURRENTLY;  -- its own migration: pgkeel runs it outside a transaction`,
          sizeMatters: false,
        };
      });
  },
  example: {
    bad: "ALTER TABLE events DETACH PARTITION events_2025",
    good: "ALTER TABLE events DETACH PARTITION events_2025 CONCURRENTLY",
  },
};

export const banVacuumFull: Rule = {
  id: "ban-vacuum-full",
  level: "error",
  summary: "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
  lock: "ACCESS EXCLUSIVE on the table, for the whole rewrite",
  check(s) {
    if (s.kind !== "VacuumStmt" || !list(s.node.options).some((o) => unwrap(o, "DefElem")?.defname === "full")) return [];
    return list(s.node.rels).map((r): Match => {
      const table = tableOf(unwrap(r, "VacuumRelation")?.relation);
      return {
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "rewrite",
        message: `VACUUM FULL ${tableSql(table)}: ${lockWords("ACCESS EXCLUSIVE", table, "rewrite")}`,
        fix: `VACUUM (ANALYZE) ${tableSql(table)};  -- frees space for reuse without a lock on reads or writes; to shrink the file online use pg_repack or pg_squeeze, outside migrations`,
        sizeMatters: true,
      };
    });
  },
  example: {
    bad: "VACUUM FULL big",
    good: "VACUUM (ANALYZE) big",
  },
};

export const banCluster: Rule = {
  id: "ban-cluster",
  level: "error",
  summary: "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
  lock: "ACCESS EXCLUSIVE on the table, for the whole rewrite",
  check(s) {
    if (s.kind !== "ClusterStmt" || !s.node.relation) return [];
    const table = tableOf(s.node.relation);
    return [
      {
        table,
        locks: [{ table, mode: "ACCESS EXCLUSIVE" }],
        effect: "rewrite",
        message: `CLUSTER ${tableSql(table)}: ${lockWords("ACCESS EXCLUSIVE", table, "rewrite")}`,
        fix: `-- reorder online with pg_repack outside migrations: pg_repack --table=${tableSql(table)}${s.node.indexname ? ` --order-by=<the columns of ${ident(String(s.node.indexname))}>` : ""}`,
        sizeMatters: true,
      },
    ];
  },
  example: {
    bad: "CLUSTER big USING big_pkey",
    good: "ANALYZE big",
  },
};

export const dataChangeInMigration: Rule = {
  id: "data-change-in-migration",
  level: "error",
  summary: "UPDATE / DELETE / MERGE on an existing table inside a migration locks every row it touches until the migration commits; use a backfill",
  lock: "ROW EXCLUSIVE on the table and a row lock on every row changed, until commit",
  check(s, ctx) {
    if (s.kind !== "UpdateStmt" && s.kind !== "DeleteStmt" && s.kind !== "MergeStmt") return [];
    const table = tableOf(s.node.relation);
    const verb = s.kind === "UpdateStmt" ? "UPDATE" : s.kind === "DeleteStmt" ? "DELETE" : "MERGE";
    const key = ctx.primaryKey(table) ?? "id";
    const batched =
      s.kind === "MergeStmt" || s.node.withClause || s.node.returningList
        ? undefined
        : backfillFile(table, ctx, verb === "UPDATE" ? "update" : "delete", sqlOf(s.kind, { ...s.node, whereClause: batchWhere(s.node.whereClause, key) }));
    return [
      {
        table,
        locks: [{ table, mode: "ROW EXCLUSIVE" }],
        effect: "rows",
        message: `${verb} on ${tableSql(table)}${s.node.whereClause ? ` WHERE ${exprSql(s.node.whereClause)}` : ""} changes its rows in one transaction: each row stays locked against other writers until the migration commits, and the whole change is one long write`,
        fix: batched ?? `-- move it to a backfill file (pgkeel create <name> --backfill): batches of keys, each committed on its own\n-- ${deparse({ [s.kind]: s.node })}`,
        sizeMatters: true,
      },
    ];
  },
  example: {
    bad: "UPDATE big SET n = n + 1",
    good: "ALTER TABLE big ALTER COLUMN n SET DEFAULT 0",
  },
};

export const sessionLevelSet: Rule = {
  id: "session-level-set",
  level: "error",
  summary:
    "In a no-transaction migration a plain SET ends with its own statement: pgkeel runs it as SET LOCAL (so it never leaks into later migrations or other clients), and the statements after it run without it",
  lock: "none",
  check(s, ctx) {
    // In a transaction pgkeel sends a plain SET as SET LOCAL: it holds for the rest of the file, as written.
    if (ctx.transactional) return [];
    if (s.kind !== "VariableSetStmt" || s.node.is_local || !String(s.node.kind).startsWith("VAR_SET") || s.node.kind === "VAR_SET_MULTI") return [];
    const name = String(s.node.name);
    const value = list(s.node.args).map((a) => exprSql(a)).join(", ");
    const raw = list(s.node.args).map((a) => { const c = unwrap(a, "A_Const") as { sval?: { sval?: string } } | undefined; return c?.sval?.sval ?? exprSql(a); }).join(", ");
    const directive = name === "lock_timeout" ? "lock-timeout" : name === "statement_timeout" ? "statement-timeout" : undefined;
    return [
      {
        locks: [],
        effect: "none",
        message: `SET ${name} in a no-transaction migration lasts only for its own statement: each statement runs on its own, and pgkeel makes a SET local to it so that it cannot leak into later migrations or, behind a transaction-mode pooler, other clients; the statements after it run without ${name}`,
        fix: directive
          ? `-- pgkeel:${directive} ${raw}    (at the top of the file: it applies to every statement)`
          : `-- drop -- pgkeel:no-transaction if the file allows it (then the SET holds for the whole file), or set it on the role: ALTER ROLE ... SET ${ident(name)} = ${value}`,
        sizeMatters: false,
      },
    ];
  },
  example: {
    bad: "-- pgkeel:no-transaction\nSET work_mem = '64MB'",
    good: "SET work_mem = '64MB'",
  },
};
