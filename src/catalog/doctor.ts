import type { Gateway } from "../gateway/gateway.js";
import { detectPooler, type PoolerMode } from "./pooler.js";
import { serverVersion, versionWarnings } from "./version.js";

/** What `pgkeel doctor` finds out about the target. */
export interface DoctorReport {
  readonly serverVersion: string;
  /** `server_version_num`, e.g. 180004. */
  readonly serverVersionNum: number;
  /** Whether pgkeel supports this major (12 to 18); `warnings` says why not. */
  readonly supported: boolean;
  /** Things to fix or know before running phases here. */
  readonly warnings: readonly string[];
  readonly tls: boolean;
  readonly pooler: PoolerMode;
  /** Median of several `SELECT 1` round trips. */
  readonly rttMs: number;
  readonly user: string;
  readonly database: string;
  /** Whether the role may create pgkeel's schema, or in it when it exists. */
  readonly canCreate: boolean;
  readonly schema: string;
  readonly schemaExists: boolean;
}

export async function doctor(gw: Gateway, schema: string): Promise<DoctorReport> {
  const info = await gw.executeWithRetry({
    name: "doctor",
    run: async (db) => {
      const [row] = await db.rows<{
        server_version: string;
        server_version_num: string;
        usr: string;
        db: string;
        schema_exists: boolean;
        can_create: boolean;
      }>(
        `SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS server_version_num, current_user AS usr, current_database() AS db,
                n.oid IS NOT NULL AS schema_exists,
                CASE WHEN n.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE')
                     ELSE has_schema_privilege(n.oid, 'CREATE') END AS can_create
           FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1`,
        [schema],
      );
      const timings: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await db.query("SELECT 1");
        timings.push(performance.now() - t);
      }
      timings.sort((a, b) => a - b);
      return { row: row!, tls: db.connection.tls, rttMs: Math.round(timings[2]! * 100) / 100 };
    },
  });
  const version = serverVersion(Number(info.row.server_version_num), info.row.server_version);
  return {
    serverVersion: info.row.server_version,
    serverVersionNum: version.num,
    supported: version.supported,
    warnings: versionWarnings(version),
    tls: info.tls,
    pooler: await detectPooler(gw),
    rttMs: info.rttMs,
    user: info.row.usr,
    database: info.row.db,
    canCreate: info.row.can_create,
    schema,
    schemaExists: info.row.schema_exists,
  };
}
