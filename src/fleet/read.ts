import { randomBytes } from "node:crypto";
import { checkStatus } from "../cli/check.js";
import type { KeelStatus } from "../keel.js";
import { sessionOf, type Keel } from "../keel.js";
import type { PlannedStatement } from "../phases/migrate/phase.js";
import { redactText, secretsOf } from "../gateway/redact.js";
import { memberConnections } from "./config.js";
import { projectDigest } from "./digest.js";
import type { MemberRef } from "./events.js";
import { ref, openFleet, type FleetOptions } from "./fleet.js";
import { memberKeel } from "./member.js";
import { claimHolder, lastRecord } from "./member-state.js";
import type { Member } from "./members.js";
import { exitOf, isUnreachable, mostSerious } from "./outcome.js";
import { dispatch, Slots } from "./slots.js";

/** One member in `status --fleet NAME --json`. */
export type MemberStatus = MemberRef & {
  readonly state: "done" | "failed" | "pending" | "running" | "unreachable";
  /** The member's exit status: its last fleet run's failure, 4 for drift found now, else 0. */
  readonly exit: number;
  readonly error?: string;
  readonly migrations: KeelStatus["migrations"];
  readonly indexes: KeelStatus["indexes"];
  readonly backfills: KeelStatus["backfills"];
};

/** The commands a fleet runs; each records its outcome on a member under its own key. */
const fleetCommands = ["run", "migrate", "indexes", "backfill"];

/**
 * `status --fleet`: every member's migrations, indexes and backfills and its
 * state: done, pending, running (a fleet runner holds it), failed (drift now, or
 * its last fleet run failed: with that run's error), or unreachable. Reads only.
 * "Its last fleet run" is the latest of any command for these files: a member
 * whose `indexes --fleet` failed is failed, not pending.
 */
export async function fleetStatus(opts: Omit<FleetOptions, "onEvent" | "haltAfter">): Promise<{ members: MemberStatus[]; exit: number }> {
  const members = await readEach<MemberStatus>(opts, async (m, keel) => {
    const s = await sessionOf(keel);
    const status = await keel.status();
    const digest = projectDigest({ migrations: s.migrationsDir.path, indexes: s.indexesDir.path, backfills: s.backfillsDir.path });
    const keys = fleetCommands.map((c) => `${c}:${digest}`);
    const check = checkStatus(status);
    const [last, holder] = check.code === 0 ? [undefined, undefined] : await Promise.all([lastRecord(s, keys), claimHolder(s, keys)]);
    const base = { ...ref(m), migrations: status.migrations, indexes: status.indexes, backfills: status.backfills };
    if (check.code === 0) return { ...base, state: "done" as const, exit: 0 };
    if (check.code === 4) return { ...base, state: "failed" as const, exit: 4, error: check.why };
    if (holder) return { ...base, state: "running" as const, exit: 0 };
    if (last?.state === "failed") return { ...base, state: "failed" as const, exit: last.exit, ...(last.error !== undefined && { error: last.error }) };
    return { ...base, state: "pending" as const, exit: 0 };
  }, (m, state, exit, error) => ({ ...ref(m), state, exit, error, migrations: [], indexes: [], backfills: [] }));
  return { members, exit: mostSerious(members.map((m) => m.exit)) };
}

/** One member in `plan --fleet`: its statements, and its `--check` verdict as the single-database plan gives it. */
export type MemberPlan = MemberRef & {
  readonly state: string;
  readonly exit: number;
  readonly error?: string;
  readonly statements: PlannedStatement[];
  /** 4 drift, 6 a pending statement would be refused as unsafe, 7 pending, 0 nothing to do. */
  readonly check: 0 | 4 | 6 | 7;
  readonly why: string;
};

/** `plan --fleet`: what `run` would do on each member, and each member's `--check` verdict. Reads only. */
export async function fleetPlan(opts: Omit<FleetOptions, "onEvent" | "haltAfter">): Promise<{ members: MemberPlan[]; exit: number }> {
  const members = await readEach<MemberPlan>(
    opts,
    async (m, keel) => {
      const statements = await keel.plan();
      const { code, why } = checkStatus(await keel.status());
      const unsafe = statements.flatMap((p) => p.findings ?? []).filter((f) => f.level === "error" && f.allowed === undefined).length;
      const check = code === 7 && unsafe ? 6 : code;
      return { ...ref(m), state: "read", exit: 0, statements, check, why: check === 6 ? `check: ${unsafe} pending statement${unsafe === 1 ? "" : "s"} would be refused as unsafe (exit 6)` : why };
    },
    (m, state, exit, error) => ({ ...ref(m), state, exit, error, statements: [], check: 0, why: "" }),
  );
  return { members, exit: mostSerious(members.map((m) => m.exit)) };
}

/** Runs `read` on every member within the fleet's caps; a member that fails is reported by `failed`, in fleet order. */
async function readEach<T>(
  opts: Omit<FleetOptions, "onEvent" | "haltAfter">,
  read: (m: Member, keel: Keel) => Promise<T>,
  failed: (m: Member, state: "failed" | "unreachable", exit: number, error: string) => T,
): Promise<T[]> {
  const runner = opts.runner ?? randomBytes(4).toString("hex");
  const { config, members } = await openFleet(opts.name, opts.keel, runner);
  const slots = new Slots(opts.concurrency ?? config.concurrency ?? 8, Math.floor((config.perHost ?? 8) / memberConnections));
  const results: T[] = new Array(members.length);
  await dispatch(members, (m) => m.host, slots, async (m) => {
    results[m.index] = await readOne(m);
  });
  return results;

  async function readOne(m: Member): Promise<T> {
    const keel = memberKeel(m, { keel: opts.keel, runner, onEvent: () => {} });
    let reached = false;
    try {
      await (await sessionOf(keel)).gw.query("reach the member", "SELECT 1");
      reached = true;
      return await read(m, keel);
    } catch (e) {
      return failed(m, !reached && isUnreachable(e) ? "unreachable" : "failed", exitOf(e), redactText(e instanceof Error ? e.message : String(e), secretsOf(m.url)));
    } finally {
      await keel.close().catch(() => {});
    }
  }
}
