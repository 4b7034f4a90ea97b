import type { PoolerMode } from "../catalog/pooler.js";
import type { ServerVersion } from "../catalog/version.js";
import type { EventSink } from "../events.js";
import type { Gateway } from "../gateway/gateway.js";
import type { SafetyConfig } from "../safety/settings.js";
import type { Claims } from "../state/claims.js";
import type { StateNames } from "../state/schema.js";
import type { HealthConfig } from "./backfill/health-config.js";

/** What every phase works with: the gateway, pgkeel's own tables, claims, settings, and where events go. */
export interface PhaseContext {
  readonly gw: Gateway;
  readonly names: StateNames;
  readonly claims: Claims;
  /** Default `lock_timeout` of the transactions pgkeel opens. */
  readonly lockTimeout: string;
  /** `idle_in_transaction_session_timeout` of the transactions pgkeel opens: a holder that hangs is cut off after it. */
  readonly idleTimeout: string;
  /** Workers per backfill in this process (default 1). */
  readonly workers?: number;
  readonly emit: EventSink;
  /** Found once per run, only when a phase needs to know. */
  readonly pooler: () => Promise<PoolerMode>;
  /** The server's version, read once per run when first asked for. */
  readonly serverVersion: () => Promise<ServerVersion>;
  /** Creates pgkeel's schema and tables if missing; checked once per run, however many phases ask. The phases that change the database call it first. */
  readonly ready: () => Promise<void>;
  /**
   * Aborted on a graceful stop (SIGINT / SIGTERM). Phases need not check it: the
   * gateway starts no new unit once it is aborted. Only waits that are not units
   * (a pause between batches) listen to it.
   */
  readonly stop?: AbortSignal;
  /** Whether pgkeel's table `table` (one of `names`) exists. Reads only: what `status` and `plan` use instead of `ready`. */
  readonly stateHas: (table: string) => Promise<boolean>;
  /** The config's `safety` settings (rule levels, size threshold). */
  readonly safety?: SafetyConfig;
  /** The config's `backfill.health` limits (defaults apply to what it leaves out). */
  readonly health?: HealthConfig;
}
