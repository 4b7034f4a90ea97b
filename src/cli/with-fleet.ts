import { Option, type Command } from "commander";
import { UsageError } from "../errors.js";
import { runFleet, type FleetOptions } from "../fleet/fleet.js";
import type { FleetWork } from "../fleet/member.js";
import { FleetReport } from "./fleet-output.js";
import { Output } from "./output.js";
import { positiveInt } from "./positive-int.js";
import { stopOnSignals } from "./stop-signals.js";
import { keelOptions, type GlobalFlags } from "./with-keel.js";

/** The flags of a command that can run over a fleet. */
export interface FleetFlags {
  fleet?: string;
  concurrency?: number;
  haltAfter?: number;
}

/** Adds `--fleet NAME`, `--concurrency N` and `--halt-after N` to `c`. */
export function fleetOptions(c: Command, writes: boolean): Command {
  c.option("--fleet <name>", "run over every member of the config's fleets.<name>, in waves")
    .addOption(new Option("--concurrency <n>", "with --fleet: members at once, overall (default: the fleet's concurrency, else 8)").argParser(positiveInt("--concurrency")));
  if (writes) c.addOption(new Option("--halt-after <n>", "with --fleet: failed members before no new member starts (default 1 in the canary wave)").argParser(positiveInt("--halt-after")));
  return c;
}

/** The options of a fleet command: what every member's keel shares, and the caps. */
export async function fleetSetup(flags: GlobalFlags, f: FleetFlags, out: Output, signal: AbortSignal): Promise<Omit<FleetOptions, "onEvent">> {
  // A member's events go to the fleet report, not to the single-database printer.
  const keel = { ...(await keelOptions(flags, out)), onEvent: undefined, signal };
  return { name: f.fleet!, keel, ...(f.concurrency !== undefined && { concurrency: f.concurrency }), ...(f.haltAfter !== undefined && { haltAfter: f.haltAfter }) };
}

/**
 * `migrate`, `indexes`, `backfill` or `run` over a fleet: the report as it goes,
 * the table at the end, and the exit status of the most serious member failure.
 */
export async function withFleet(flags: GlobalFlags, f: FleetFlags, command: string, work: FleetWork): Promise<number> {
  const out = new Output({ json: !!flags.json, quiet: !!flags.quiet, eventsToStdout: true });
  const stop = stopOnSignals((line) => out.log(line));
  const report = new FleetReport(out, !!flags.json);
  try {
    if (flags.url || flags.via) throw new UsageError("--fleet takes its members from the config's fleets: it cannot be combined with --url or --via");
    const r = await runFleet({ ...(await fleetSetup(flags, f, out, stop.signal)), onEvent: (e) => report.event(e) }, command, work);
    report.summary(f.fleet!, r);
    return r.exit;
  } catch (e) {
    return out.failure(e);
  } finally {
    out.close();
    stop.dispose();
  }
}

/** `status` or `plan` over a fleet: reads only; `body` prints and returns the exit status. */
export async function withFleetRead(flags: GlobalFlags, f: FleetFlags, body: (opts: Omit<FleetOptions, "onEvent">, out: Output) => Promise<number>): Promise<number> {
  const out = new Output({ json: !!flags.json, quiet: !!flags.quiet, eventsToStdout: false });
  const stop = stopOnSignals((line) => out.log(line));
  try {
    if (flags.url || flags.via) throw new UsageError("--fleet takes its members from the config's fleets: it cannot be combined with --url or --via");
    return await body(await fleetSetup(flags, f, out, stop.signal), out);
  } catch (e) {
    return out.failure(e);
  } finally {
    out.close();
    stop.dispose();
  }
}
