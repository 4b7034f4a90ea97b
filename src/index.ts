/** pgkeel's public API: the keel (phases) and the gateway (for application code). */
export { createKeel, type Keel, type KeelOptions, type KeelStatus, type RunResult } from "./keel.js";
export type { BackfillResult, BackfillStatus, BackfillState } from "./phases/backfill/phase.js";
export type { BackfillTx, KeyRange } from "./phases/backfill/declared.js";
export type { IndexesOptions, IndexesResult, IndexStatus, IndexStateName } from "./phases/indexes/phase.js";
export type { KeelEvent, EventSink } from "./events.js";
export type { MigrateOptions, MigrateResult, PlannedStatement } from "./phases/migrate/phase.js";
export type { MigrationStatus, MigrationState } from "./phases/migrate/drift.js";
export type { MigrationDb } from "./phases/migrate/code-db.js";
export type { BaselineOptions, BaselineResult } from "./phases/migrate/baseline.js";
export type { RepairOptions, RepairChange } from "./phases/migrate/repair.js";
export type { MigrateDryRun, DryRunMessage } from "./phases/migrate/dry-run.js";
export type { Held } from "./phases/migrate/after-backfill.js";
export type { WaitResult } from "./phases/wait.js";
export type { AdoptOptions, AdoptResult } from "./adopt/adopt.js";
export type { Mapping, Match } from "./adopt/match.js";
export type { DoctorReport } from "./catalog/doctor.js";
export type { PoolerMode } from "./catalog/pooler.js";
export { oldestSupportedMajor, newestTestedMajor, type ServerVersion } from "./catalog/version.js";
export type { TableRef } from "./catalog/objects.js";
export type { KeelConfig } from "./config/config.js";
export type { Finding, LockMode, TableFacts, Effect, RuleLevel } from "./safety/types.js";
export type { Analysis, AnalysedStatement } from "./safety/analyze.js";
export type { SafetyConfig } from "./safety/settings.js";
export type { Blocker } from "./safety/blockers.js";
export { Gateway, type Unit, type UnitContext, type Resolution, type GatewayEvent, type GatewayOptions } from "./gateway/gateway.js";
export { classify, isRetryable, type FailureKind, type Classified } from "./gateway/classify.js";
export { defaultRetryPolicy, type RetryPolicy } from "./gateway/backoff.js";
export * from "./errors.js";
export { redactUrl } from "./gateway/redact.js";
export { pgDriver } from "./db/pg.js";
export { pgliteDriver } from "./db/pglite.js";
export { defaultTuning, type Driver, type Session, type StatementResult, type ConnectionTuning } from "./db/driver.js";

import { defaultTuning } from "./db/driver.js";
import { pgDriver } from "./db/pg.js";
import { Gateway, type GatewayOptions, type Unit } from "./gateway/gateway.js";

/**
 * One unit against `url` with pgkeel's retry rules, for application code:
 *
 * ```ts
 * const gw = createGateway(process.env.DATABASE_URL!);
 * const rows = await executeWithRetry(gw, { name: "touch", run: (db) => db.rows("UPDATE t SET x = 1 RETURNING id") });
 * ```
 */
export function createGateway(url: string, options?: GatewayOptions): Gateway {
  return new Gateway(pgDriver(url, defaultTuning), options);
}

export function executeWithRetry<T>(gw: Gateway, unit: Unit<T>): Promise<T> {
  return gw.executeWithRetry(unit);
}
