import { deparse, list, objectName, tableFromList, tableOf, tableSql, unwrap } from "../sql.js";
import type { Match, Rule, StatementContext, TableName } from "../types.js";
import { lockWords } from "./helpers.js";

function isConcurrentReindex(n: Record<string, unknown>): boolean {
  return list(n.params).some((p) => unwrap(p, "DefElem")?.defname === "concurrently");
}

/** The index's table: known from this run or from the database; else the index name stands in. */
function tableOfIndex(index: TableName, ctx: StatementContext): TableName | undefined {
  return ctx.indexTable(index);
}

export const requireConcurrentIndexCreation: Rule = {
  id: "require-concurrent-index-creation",
  level: "error",
  summary: "CREATE INDEX without CONCURRENTLY blocks writes to an existing table for the whole build (not reported for tables created earlier in the run)",
  lock: "SHARE on the table, for the whole build",
  check(s) {
    if (s.kind !== "IndexStmt" || s.node.concurrent) return [];
    const table = tableOf(s.node.relation);
    const name = String(s.node.idxname ?? objectName(table.name, ...list(s.node.indexParams).flatMap((p) => { const e = unwrap(p, "IndexElem"); return e?.name ? [String(e.name)] : []; }), "idx"));
    const concurrent = deparse({ IndexStmt: { ...s.node, concurrent: true, idxname: name } });
    return [
      {
        table,
        locks: [{ table, mode: "SHARE" }],
        effect: "scan",
        message: `index ${name} is built without CONCURRENTLY: ${lockWords("SHARE", table, "scan")}`,
        fix: [`-- declare it in db/indexes/${table.name}.sql: pgkeel's indexes phase builds it concurrently, resumes and validates it:`, `${concurrent};`, "-- (or put it alone in a migration: pgkeel runs CONCURRENTLY outside a transaction)"].join("\n"),
        sizeMatters: true,
      },
    ];
  },
  example: {
    bad: "CREATE INDEX big_n_idx ON big (n)",
    good: "CREATE INDEX CONCURRENTLY big_n_idx ON big (n)",
  },
};

export const requireConcurrentIndexDeletion: Rule = {
  id: "require-concurrent-index-deletion",
  level: "error",
  summary: "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table, blocking reads behind any running query",
  lock: "ACCESS EXCLUSIVE on the index's table",
  check(s, ctx) {
    if (s.kind !== "DropStmt" || s.node.removeType !== "OBJECT_INDEX" || s.node.concurrent) return [];
    return list(s.node.objects).flatMap((o): Match[] => {
      const index = tableFromList(o);
      const table = tableOfIndex(index, ctx);
      // The database does not have it (and this run did not create it): nothing to lock.
      if (!table && ctx.online) return [];
      const idx = tableSql(index);
      return [{
        table: table ?? index,
        locks: [{ table: table ?? index, mode: "ACCESS EXCLUSIVE" }],
        effect: "none",
        message: `DROP INDEX ${idx}: ${table ? lockWords("ACCESS EXCLUSIVE", table, "none") : "ACCESS EXCLUSIVE on its table (unknown without a database) blocks all reads and writes"} and waits behind every query on it`,
        fix: `DROP INDEX CONCURRENTLY ${s.node.missing_ok ? "IF EXISTS " : ""}${idx};  -- one index per statement; pgkeel runs it outside a transaction`,
        sizeMatters: false,
      }];
    });
  },
  example: {
    bad: "DROP INDEX big_email_idx",
    good: "DROP INDEX CONCURRENTLY big_email_idx",
  },
};

export const requireConcurrentReindex: Rule = {
  id: "require-concurrent-reindex",
  level: "error",
  summary: "REINDEX without CONCURRENTLY blocks writes to the table (and reads that use the index) for the whole rebuild",
  lock: "SHARE on the table and ACCESS EXCLUSIVE on the index, for the whole rebuild",
  check(s, ctx) {
    if (s.kind !== "ReindexStmt" || isConcurrentReindex(s.node)) return [];
    if (s.node.kind !== "REINDEX_OBJECT_TABLE" && s.node.kind !== "REINDEX_OBJECT_INDEX") return [];
    const named = tableOf(s.node.relation);
    const table = s.node.kind === "REINDEX_OBJECT_TABLE" ? named : tableOfIndex(named, ctx);
    const what = s.node.kind === "REINDEX_OBJECT_TABLE" ? "TABLE" : "INDEX";
    return [
      {
        table: table ?? named,
        locks: [{ table: table ?? named, mode: "SHARE" }],
        effect: "scan",
        message: `REINDEX ${what} ${tableSql(named)} rebuilds without CONCURRENTLY: ${table ? lockWords("SHARE", table, "scan") : "SHARE on its table blocks writes"}, and reads that would use the index wait`,
        fix: `REINDEX ${what} CONCURRENTLY ${tableSql(named)};  -- PostgreSQL 12+; pgkeel runs it outside a transaction`,
        sizeMatters: true,
      },
    ];
  },
  example: {
    bad: "REINDEX INDEX big_email_idx",
    good: "REINDEX INDEX CONCURRENTLY big_email_idx",
  },
};

export const concurrentIndexPg14Corruption: Rule = {
  id: "concurrent-index-pg14-corruption",
  level: "error",
  summary: "CREATE INDEX / REINDEX CONCURRENTLY on PostgreSQL 14.0 to 14.3 can silently corrupt the index (fixed in 14.4)",
  lock: "SHARE UPDATE EXCLUSIVE on the table",
  check(s, ctx) {
    const concurrentBuild = (s.kind === "IndexStmt" && s.node.concurrent === true) || (s.kind === "ReindexStmt" && isConcurrentReindex(s.node));
    if (!concurrentBuild) return [];
    const v = ctx.serverVersion;
    if (v === undefined || v < 140000 || v >= 140004) return [];
    const named = tableOf(s.node.relation);
    const table = s.kind === "IndexStmt" || s.node.kind === "REINDEX_OBJECT_TABLE" ? named : (tableOfIndex(named, ctx) ?? named);
    return [
      {
        table,
        locks: [{ table, mode: "SHARE UPDATE EXCLUSIVE" }],
        effect: "scan",
        message: `the server is PostgreSQL ${Math.floor(v / 10000)}.${v % 100}: concurrent index builds on 14.0 to 14.3 can miss rows written during the build, leaving a corrupt index`,
        fix: "-- upgrade to PostgreSQL 14.4 or later first; indexes built concurrently on 14.0-14.3 should be rebuilt (REINDEX INDEX CONCURRENTLY on 14.4+) and checked with amcheck",
        sizeMatters: false,
      },
    ];
  },
  example: {
    bad: "CREATE INDEX CONCURRENTLY big_note_idx ON big (note)",
    good: "CREATE INDEX CONCURRENTLY big_note_idx ON big (note)",
  },
};

