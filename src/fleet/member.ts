import { StoppedError, UsageError } from "../errors.js";
import type { KeelEvent } from "../events.js";
import { redactText, secretsOf } from "../gateway/redact.js";
import { createKeel, sessionOf, type Keel, type KeelOptions } from "../keel.js";
import type { Session } from "../session.js";
import { memberConnections } from "./config.js";
import { projectDigest } from "./digest.js";
import type { MemberState } from "./events.js";
import { claimMember, isDone, record } from "./member-state.js";
import { memberName, type Member } from "./members.js";
import { exitOf, isUnreachable } from "./outcome.js";

/** What a fleet runs on each member: one command of the single-database keel. */
export type FleetWork = (keel: Keel) => Promise<unknown>;

export type MemberOutcome =
  /** `skipped`: a fleet run had finished it before; `done` by this runner or, meanwhile, by another. */
  | { readonly state: Exclude<MemberState, "failed" | "unreachable">; readonly exit: 0; readonly ms: number; readonly by?: "this-run" | "another-runner" }
  | { readonly state: "failed" | "unreachable"; readonly exit: number; readonly error: string; readonly ms: number }
  /** Another fleet runner holds this member's claim now. */
  | { readonly state: "held"; readonly ms: number }
  /** A stop signal ended its run after the unit in flight: left for the next run, not failed. */
  | { readonly state: "stopped"; readonly exit: number; readonly ms: number };

export interface MemberRun {
  /** The keel options every member shares (project, config, retries, stop signal). */
  readonly keel: KeelOptions;
  /** The fleet runner's id; a member's connections are named `pgkeel:<runner>-<member index>`. */
  readonly runner: string;
  /** The command, part of the record key ("run", "migrate", ...). */
  readonly command: string;
  readonly onEvent: (e: KeelEvent) => void;
}

/** The keel of one member: the single-database run, its pool capped for the per-host limit. */
export function memberKeel(m: Member, r: Pick<MemberRun, "keel" | "runner" | "onEvent">): Keel {
  return createKeel({
    ...r.keel,
    url: m.url,
    via: undefined,
    ...(m.stateSchema !== undefined && { stateSchema: m.stateSchema }),
    runnerId: `${r.runner}-${m.index}`,
    maxConnections: memberConnections,
    onEvent: r.onEvent,
  });
}

/**
 * Takes one member through `work` with every guarantee of a single-database run:
 * one round trip says whether a fleet run already finished it (then it is
 * skipped), a claim in its own state keeps other fleet runners off it while this
 * one works, and the outcome is recorded there. A failure is the member's own:
 * it comes back as an outcome with its exit status, never as a throw.
 */
export async function runMember(m: Member, r: MemberRun, work: FleetWork): Promise<MemberOutcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const keel = memberKeel(m, r);
  let reached = false;
  let session: Session | undefined;
  let key = "";
  try {
    session = await sessionOf(keel);
    key = `${r.command}:${projectDigest({ migrations: session.migrationsDir.path, indexes: session.indexesDir.path, backfills: session.backfillsDir.path })}`;
    if (await isDone(session, key)) return { state: "skipped", exit: 0, ms: ms() };
    reached = true;
    if (m.schema !== undefined) await schemaExists(session, m);
    const claim = await claimMember(session, key);
    if (!claim) return { state: "held", ms: ms() };
    try {
      // Another runner may have finished it between the check and the claim.
      if (await isDone(session, key)) return { state: "done", exit: 0, ms: ms(), by: "another-runner" };
      await work(keel);
      await record(session, key, `pgkeel:${r.runner}`, { state: "done", exit: 0 });
      return { state: "done", exit: 0, ms: ms(), by: "this-run" };
    } catch (e) {
      const error = redactText(e instanceof Error ? e.message : String(e), secretsOf(m.url));
      // Best effort: `status --fleet` shows the error; a member that lost its network cannot take it.
      // A stop signal is no failure of the member: the next run continues it.
      if (!(e instanceof StoppedError)) await record(session, key, `pgkeel:${r.runner}`, { state: "failed", exit: exitOf(e), error }).catch(() => {});
      throw e;
    } finally {
      await claim.release();
    }
  } catch (e) {
    if (e instanceof StoppedError) return { state: "stopped", exit: e.exitCode, ms: ms() };
    const error = redactText(e instanceof Error ? e.message : String(e), secretsOf(m.url));
    return { state: !reached && isUnreachable(e) ? "unreachable" : "failed", exit: exitOf(e), error, ms: ms() };
  } finally {
    await keel.close().catch(() => {});
  }
}

/** A tenant schema that does not exist would send its tables to the next schema on the search path: refused. */
async function schemaExists(s: Session, m: Member): Promise<void> {
  const rows = await s.gw.query("check the tenant schema", "SELECT 1 FROM pg_namespace WHERE nspname = $1", [m.schema]);
  if (!rows.length) throw new UsageError(`${memberName(m)}: schema ${m.schema} does not exist; create it first (pgkeel will not put a tenant's tables in another schema of the search path)`);
}
