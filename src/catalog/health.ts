import type { UnitContext } from "../gateway/gateway.js";

/** One standby as the primary sees it in pg_stat_replication. */
export interface StandbyLag {
  /** Its application_name (the standby's cluster_name or what primary_conninfo sets), else its address. */
  readonly name: string;
  /**
   * Seconds of replay lag; 0 once it has replayed all WAL sent to it. Null when this
   * role may not see it (needs pg_monitor or pg_read_all_stats) or the server has not measured it yet.
   */
  readonly lagSeconds: number | null;
  /** WAL written on the primary and not yet replayed there, in bytes; null when hidden from this role. */
  readonly lagBytes: number | null;
  /**
   * Gone from pg_stat_replication but its physical slot still there: `name` is the
   * slot's, `lagBytes` the WAL the slot holds back for it, and no lag in time.
   */
  readonly disconnected: boolean;
}

/** What the server says about the health of a backfill's surroundings, read in one statement. */
export interface HealthReading {
  readonly standbys: readonly StandbyLag[];
  /** Other sessions than pgkeel's waiting for a lock on the table (or one of its partitions): a relation lock or a row. */
  readonly lockWaiters: number;
  /** Autovacuum workers busy on the table (or one of its partitions). */
  readonly autovacuum: number;
  /** Client sessions running a statement right now, pgkeel's own excluded. */
  readonly activeSessions: number;
  /**
   * Whether this role sees other roles' sessions (superuser, pg_read_all_stats or pg_monitor).
   * Without it, standby lags read null, other roles' autovacuum and sessions are hidden.
   */
  readonly seesAll: boolean;
}

/**
 * One statement for every signal, so a check costs one round trip and works
 * unchanged through a transaction-mode pooler (no session state) and on
 * PostgreSQL 12 to 18. `$1` is the table, schema-qualified and quoted.
 *
 * - A standby that disconnected is gone from pg_stat_replication, but its physical
 *   slot (inactive) keeps the primary's WAL from its restart position on: it counts
 *   by those bytes, the WAL it will have to replay and the primary's disk holds for
 *   it. A slot the server gave up on (max_slot_wal_keep_size) has no restart position.
 * - Replay lag in time comes from the walsender's own measure (`replay_lag`), which
 *   keeps the last value it measured after the standby caught up: a standby whose
 *   replay position has reached everything sent to it counts as 0.
 * - A session waiting for a row of the table holds the row's tuple lock while it
 *   waits for the holder's transaction, so "waits for a lock and holds a tuple lock
 *   on the table" counts it, as an ungranted lock on the table counts the others.
 * - Autovacuum on the table is read from pg_stat_progress_vacuum, matched to
 *   pg_stat_activity's autovacuum workers (a manual VACUUM is someone's choice).
 * - pgkeel's own sessions (application_name `pgkeel` or `pgkeel:<runner>`) count
 *   neither as waiters nor as active: a batch of a backfill waiting for a row is
 *   the backfill held up, not traffic queued behind it, and its workers' batches
 *   would otherwise throttle themselves. (pgkeel's own DDL waits at most its lock_timeout.)
 */
const healthSql = `
WITH rels AS (
  SELECT to_regclass($1) AS relid
  UNION SELECT relid FROM pg_partition_tree(to_regclass($1))
), me AS (SELECT oid AS dbid FROM pg_database WHERE datname = current_database())
SELECT
  (SELECT coalesce(json_agg(s.standby), '[]'::json) FROM (
     SELECT json_build_object(
              'name', coalesce(nullif(r.application_name, ''), host(r.client_addr), 'pid ' || r.pid),
              'lagSeconds', CASE WHEN r.replay_lsn IS NULL THEN NULL
                                 WHEN r.replay_lsn >= r.sent_lsn THEN 0
                                 ELSE extract(epoch FROM r.replay_lag) END,
              'lagBytes', CASE WHEN pg_is_in_recovery() OR r.replay_lsn IS NULL THEN NULL
                               ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn) END,
              'disconnected', false) AS standby
       FROM pg_stat_replication r
     UNION ALL
     SELECT json_build_object('name', sl.slot_name, 'lagSeconds', NULL,
              'lagBytes', pg_wal_lsn_diff(pg_current_wal_lsn(), sl.restart_lsn), 'disconnected', true)
       FROM pg_replication_slots sl
      WHERE sl.slot_type = 'physical' AND NOT sl.active AND sl.restart_lsn IS NOT NULL AND NOT pg_is_in_recovery()) AS s) AS standbys,
  (SELECT count(DISTINCT l.pid) FROM pg_locks l, me
    WHERE l.database = me.dbid AND l.relation IN (SELECT relid FROM rels) AND l.pid <> pg_backend_pid()
      AND l.pid NOT IN (SELECT pid FROM pg_stat_activity WHERE application_name ~ '^pgkeel(:|$)')
      AND (NOT l.granted
           OR (l.locktype = 'tuple' AND EXISTS (SELECT 1 FROM pg_locks w WHERE w.pid = l.pid AND NOT w.granted))))::int AS lock_waiters,
  (SELECT count(*) FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a ON a.pid = v.pid, me
    WHERE v.datid = me.dbid AND v.relid IN (SELECT relid FROM rels) AND a.query LIKE 'autovacuum:%')::int AS autovacuum,
  (SELECT count(*) FROM pg_stat_activity
    WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND application_name !~ '^pgkeel(:|$)')::int AS active_sessions,
  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS sees_all`;

interface Row {
  standbys: Array<{ name: string; lagSeconds: number | string | null; lagBytes: number | string | null; disconnected: boolean }> | string;
  lock_waiters: number;
  autovacuum: number;
  active_sessions: number;
  sees_all: boolean;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

export async function readHealth(db: Pick<UnitContext, "rows">, table: string): Promise<HealthReading> {
  const [row] = await db.rows<Row>(healthSql, [table]);
  const standbys = typeof row!.standbys === "string" ? (JSON.parse(row!.standbys) as Exclude<Row["standbys"], string>) : row!.standbys;
  return {
    standbys: standbys.map((s) => ({ name: s.name, lagSeconds: num(s.lagSeconds), lagBytes: num(s.lagBytes), disconnected: s.disconnected === true })),
    lockWaiters: Number(row!.lock_waiters),
    autovacuum: Number(row!.autovacuum),
    activeSessions: Number(row!.active_sessions),
    seesAll: row!.sees_all === true,
  };
}
