import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { loadConfig } from "../config/config.js";
import { UsageError } from "../errors.js";
import type { KeelOptions } from "../keel.js";
import { durationMs } from "../sql/directives.js";
import { memberConnections, type FleetConfig } from "./config.js";
import type { FleetSink, MemberRef, MemberState } from "./events.js";
import { runMember, type FleetWork, type MemberOutcome } from "./member.js";
import { listMembers, type Member } from "./members.js";
import { mostSerious } from "./outcome.js";
import { dispatch, Slots } from "./slots.js";
import { planWaves, type Wave } from "./waves.js";
import { sleep } from "../phases/sleep.js";

export interface FleetOptions {
  /** The fleet's name in the config's `fleets`. */
  readonly name: string;
  /** What every member's keel shares: project folder, config, folders, retries, stop signal. */
  readonly keel: KeelOptions;
  /** Members at once, overall (over the config's `concurrency`, default 8). */
  readonly concurrency?: number;
  /** Failed members before no new member starts (over the config's `haltAfter`). */
  readonly haltAfter?: number;
  readonly onEvent: FleetSink;
  /** This fleet runner's id (default a random one); its connections are `pgkeel:<id>-<member>`. */
  readonly runner?: string;
}

export interface OpenedFleet {
  readonly config: FleetConfig;
  readonly members: readonly Member[];
  /** Where the fleet is defined, for messages: `<config file>: fleets.<name>`. */
  readonly at: string;
}

export interface FleetResult {
  readonly members: readonly { readonly member: Member; readonly state: MemberState | "pending"; readonly exit: number; readonly error?: string }[];
  /** The most serious member failure's exit status (0 when every member is done). */
  readonly exit: number;
  readonly counts: Readonly<Record<MemberState | "pending", number>>;
}

export const ref = (m: Member): MemberRef => ({ target: m.target, ...(m.schema !== undefined && { schema: m.schema }) });

/** Finds fleet `name` in the config and lists its members. */
export async function openFleet(name: string, keel: KeelOptions, runner: string): Promise<OpenedFleet> {
  const cwd = resolve(keel.cwd ?? process.cwd());
  const { config, file } = await loadConfig(cwd, keel.config);
  const fleet = config.fleets?.[name];
  if (!fleet) {
    const known = Object.keys(config.fleets ?? {});
    throw new UsageError(`--fleet ${name}: no such fleet in ${file ?? "the config (no config file found)"} (${known.length ? `known: ${known.join(", ")}` : "it defines no fleets"})`);
  }
  const at = `${file}: fleets.${name}`;
  const retry = {
    ...((keel.maxRetries ?? config.maxRetries) !== undefined && { maxAttempts: keel.maxRetries ?? config.maxRetries }),
    ...((keel.retryCapMs ?? config.retryCapMs) !== undefined && { capMs: keel.retryCapMs ?? config.retryCapMs }),
  };
  const members = await listMembers(fleet, at, cwd, config.schema ?? "pgkeel", { retry, stop: keel.signal, applicationName: `pgkeel:${runner}` });
  return { config: fleet, members, at };
}

/**
 * Takes every member of the fleet through `work` (one command of the single-
 * database keel), wave by wave: a wave starts only when the one before it ended
 * without a failed member and under `haltAfter` failed or unreachable ones (after
 * the soak time); within a wave, members run up to
 * the overall and per-host caps, and once `haltAfter` members failed no new one
 * starts while running ones finish. Members another fleet runner holds are
 * visited again until done, so every runner ends when the fleet does.
 */
export async function runFleet(opts: FleetOptions, command: string, work: FleetWork): Promise<FleetResult> {
  const runner = opts.runner ?? randomBytes(4).toString("hex");
  const emit = opts.onEvent;
  const { config, members, at } = await openFleet(opts.name, opts.keel, runner);
  const waves = planWaves(members, config, at, opts.haltAfter ?? config.haltAfter);
  const slots = new Slots(opts.concurrency ?? config.concurrency ?? 8, Math.floor((config.perHost ?? 8) / memberConnections));
  const outcomes = new Map<Member, MemberOutcome>();
  const stop = opts.keel.signal;
  const failed = () => [...outcomes.values()].filter((o) => o.state === "failed" || o.state === "unreachable").length;
  emit({ type: "fleet-start", fleet: opts.name, command, runner, members: members.length, waves: waves.map((w) => ({ name: w.name, members: w.members.length })) });

  const memberRun = { keel: opts.keel, runner, command, onEvent: () => {} };
  for (const [i, wave] of waves.entries()) {
    if (stop?.aborted) break;
    emit({ type: "wave-start", wave: wave.name, members: wave.members.length });
    await runWave(wave, slots, (m) => runMember(m, { ...memberRun, onEvent: (event) => forward(m, event) }, work), outcomes, failed, emit, stop);
    const bad = wave.members.filter((m) => ["failed", "unreachable"].includes(outcomes.get(m)?.state ?? "")).length;
    emit({ type: "wave-done", wave: wave.name, failed: bad });
    // A member whose run failed says the change is wrong: no later wave. One that could not
    // be reached says nothing about the change: it stops later waves only through haltAfter.
    const failedRun = wave.members.some((m) => outcomes.get(m)?.state === "failed");
    if (failedRun || failed() >= wave.haltAfter) {
      if (i < waves.length - 1) emit({ type: "halt", reason: `${wave.name} ended with ${bad} failed member${bad === 1 ? "" : "s"}: no later wave starts` });
      break;
    }
    if (config.soak && i < waves.length - 1 && !stop?.aborted) {
      emit({ type: "soak", after: wave.name, ms: durationMs(config.soak) });
      await sleep(durationMs(config.soak), stop);
    }
  }

  function forward(m: Member, event: Parameters<MemberRunEvent>[0]) {
    // A member's retries, warnings and waits explain a slow member; its progress would flood the report.
    if (event.type === "retry" || event.type === "warning" || event.type === "waiting") emit({ type: "member-event", member: ref(m), event });
  }

  const result = members.map((member) => {
    const o = outcomes.get(member);
    if (!o || o.state === "held" || o.state === "stopped") return { member, state: "pending" as const, exit: 0 };
    return { member, state: o.state, exit: o.exit, ...("error" in o && { error: o.error }) };
  });
  const counts = { done: 0, skipped: 0, failed: 0, unreachable: 0, pending: 0 };
  for (const r of result) counts[r.state]++;
  const stopped = stop?.aborted ? (String(stop.reason) === "SIGINT" ? 130 : 143) : 0;
  const exit = mostSerious([...result.map((r) => r.exit), stopped]);
  emit({ type: "fleet-done", fleet: opts.name, counts, exit });
  return { members: result, exit, counts };
}

type MemberRunEvent = NonNullable<KeelOptions["onEvent"]>;

/** One wave: members start as the caps allow; a member another runner holds comes back after a short wait. */
async function runWave(
  wave: Wave,
  slots: Slots,
  one: (m: Member) => Promise<MemberOutcome>,
  outcomes: Map<Member, MemberOutcome>,
  failed: () => number,
  emit: FleetSink,
  stop: AbortSignal | undefined,
): Promise<void> {
  let halted = false;
  const halt = () => {
    if (!halted && (failed() >= wave.haltAfter || stop?.aborted)) {
      halted = true;
      if (!stop?.aborted) emit({ type: "halt", reason: `${failed()} failed member${failed() === 1 ? "" : "s"} (halt after ${wave.haltAfter}): no new member starts` });
    }
    return halted;
  };
  await dispatch(wave.members, (m) => m.host, slots, async (m, again) => {
    if (!again) emit({ type: "member-start", member: ref(m), wave: wave.name });
    const o = await one(m);
    if (o.state === "held") {
      if (!again) emit({ type: "member-held", member: ref(m), wave: wave.name });
      return 300 + Math.random() * 300;
    }
    // A member stopped by a signal stays pending: the next run continues it.
    if (o.state === "stopped") return;
    outcomes.set(m, o);
    emit({ type: "member-done", member: ref(m), wave: wave.name, state: o.state, exit: o.exit, ms: o.ms, ...("error" in o && { error: o.error }), ...("by" in o && o.by && { by: o.by }) });
  }, halt);
}

