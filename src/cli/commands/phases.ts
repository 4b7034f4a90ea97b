import { Option, type Command } from "commander";
import { UsageError } from "../../errors.js";
import { positiveInt } from "../program.js";
import type { Keel } from "../../keel.js";
import { plural, type Output } from "../output.js";
import { fleetOptions, withFleet, type FleetFlags } from "../with-fleet.js";
import { withKeel, type CommandHost } from "../with-keel.js";

const drift = (c: Command) =>
  c
    .option("--dry-run", "print the SQL exactly as it would be sent, message by message; change nothing")
    .option("--allow-changed", "apply even though an applied migration's file changed")
    .option("--allow-missing", "apply even though an applied migration's file is gone")
    .option("--allow-out-of-order", "apply new migrations that sort before the last applied one")
    .option("--allow-unsafe", "apply even though safety findings refuse it (each one is printed)");

const driftFlags = (o: { allowChanged?: boolean; allowMissing?: boolean; allowOutOfOrder?: boolean; allowUnsafe?: boolean }) => ({
  allowChanged: o.allowChanged,
  allowMissing: o.allowMissing,
  allowOutOfOrder: o.allowOutOfOrder,
  allowUnsafe: o.allowUnsafe,
});

/** `migrate`, `indexes`, `backfill` and `run`: the commands that change the database. */
export function registerPhases({ cli, flags, setExit }: CommandHost): void {
  fleetOptions(drift(cli.command("migrate").description("apply pending migrations")), true).action(async (o) => {
    if (o.fleet) return setExit(await fleetOr(o, "migrate", (keel) => keel.migrate(driftFlags(o))));
    setExit(
      await withKeel(flags(), !o.dryRun, async (keel, out) => {
        if (o.dryRun) return printDryRun(keel, out, { ...driftFlags(o), run: false });
        const r = await keel.migrate(driftFlags(o));
        if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
        else out.log(`migrate: done (${r.applied.length} applied${r.skipped.length ? `, ${r.skipped.length} applied by other runners` : ""})`);
      }),
    );
  });

  fleetOptions(cli.command("indexes"), true)
    .description("build declared indexes that are missing or invalid, always concurrently")
    .option("--rebuild-changed", "rebuild indexes whose definition changed: build the new one beside it, then swap")
    .action(async (o: { rebuildChanged?: boolean } & FleetFlags) => {
      if (o.fleet) return setExit(await fleetOr(o, "indexes", (keel) => keel.indexes({ rebuildChanged: o.rebuildChanged })));
      setExit(
        await withKeel(flags(), true, async (keel, out) => {
          const r = await keel.indexes({ rebuildChanged: o.rebuildChanged });
          if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
          else out.log(`indexes: done (${r.built.length} built${r.skipped.length ? `, ${r.skipped.length} built by other runners` : ""}${r.changed.length ? `, ${r.changed.length} changed and left alone` : ""})`);
        }),
      );
    });

  fleetOptions(cli.command("backfill"), true)
    .description("run unfinished backfills in keyset batches, each batch applied exactly once")
    .addOption(workersOption())
    .option("--pause <name>", "pause the backfill NAME for every worker of every process (they hold before their next batch), then exit")
    .option("--resume <name>", "resume the paused backfill NAME, then exit")
    .action(async (o: FleetFlags & { workers?: number; pause?: string; resume?: string }) => {
      if (o.fleet) {
        // Pausing is one database's switch; without this a fleet would run the backfill it meant to pause.
        const flag = o.pause !== undefined ? "--pause" : o.resume !== undefined ? "--resume" : undefined;
        if (flag) {
          process.stderr.write(`pgkeel: ${flag} works on one database: use it with --url (or --via) instead of --fleet\n`);
          return setExit(2);
        }
        return setExit(await fleetOr(o, "backfill", (keel) => keel.backfill({ workers: o.workers }), { workers: o.workers }));
      }
      if (o.pause !== undefined || o.resume !== undefined) {
        setExit(
          await withKeel(flags(), true, async (keel, out) => {
            if (o.pause !== undefined && o.resume !== undefined) throw new UsageError("--pause and --resume go alone: give one of them");
            const name = (o.pause ?? o.resume)!;
            await keel.pauseBackfill(name, o.pause !== undefined);
            out.result(o.pause !== undefined ? `backfill ${name}: paused; every worker holds before its next batch (within about a second)` : `backfill ${name}: resumed`);
          }),
        );
        return;
      }
      setExit(
        await withKeel({ ...flags(), workers: o.workers }, true, async (keel, out) => {
          const r = await keel.backfill({ workers: o.workers });
          if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
          else out.log(`backfill: done (${r.done.length} finished${r.skipped.length ? `, ${r.skipped.length} by other runners` : ""})`);
        }),
      );
    });

  fleetOptions(drift(cli.command("run").description("run the phases in order: migrate, indexes, backfill")), true)
    .option("--rebuild-changed", "rebuild indexes whose definition changed")
    .addOption(workersOption())
    .action(async (o) => {
      if (o.fleet) return setExit(await fleetOr(o, "run", (keel) => keel.run({ ...driftFlags(o), rebuildChanged: o.rebuildChanged }), { workers: o.workers }));
      setExit(
        await withKeel({ ...flags(), workers: o.workers }, !o.dryRun, async (keel, out) => {
          if (o.dryRun) return printDryRun(keel, out, { ...driftFlags(o), run: true });
          const r = await keel.run({ ...driftFlags(o), rebuildChanged: o.rebuildChanged });
          if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
          else out.log(`run: done (${plural(r.migrate.applied.length, "migration")} applied, ${plural(r.indexes.built.length, "index", "indexes")} built, ${plural(r.backfill.done.length, "backfill")} finished)`);
        }),
      );
    });

  /** The command over a fleet; --dry-run is for one database. */
  function fleetOr(o: FleetFlags & { dryRun?: boolean }, command: string, work: (keel: Keel) => Promise<unknown>, extra: { workers?: number } = {}): Promise<number> {
    if (o.dryRun) {
      process.stderr.write("pgkeel: --dry-run works on one database: use it with --url (or --via) instead of --fleet\n");
      return Promise.resolve(2);
    }
    return withFleet({ ...flags(), ...extra }, o, command, work);
  }
}

/** `--workers N` of `backfill` and `run`: also sizes the connection pool. */
function workersOption(): Option {
  return new Option("--workers <n>", "workers per backfill in this process, each on its own key range (default: the config's workers, else 1)").argParser(positiveInt("--workers"));
}

/** `--dry-run`: the messages as they would be sent, on stdout; nothing is changed. */
async function printDryRun(keel: Keel, out: Output, opts: Parameters<Keel["dryRun"]>[0] & object): Promise<void> {
  out.log("pgkeel: dry run: nothing will be changed");
  const d = await keel.dryRun(opts);
  out.result(`-- pgkeel dry run: nothing was changed. The SQL ${opts.run ? "run" : "migrate"} would send now, one message per block.`);
  const print = (m: { unit: string; sql: string }) => out.result(`\n-- ${m.unit}\n${m.sql.trimEnd()}`);
  d.messages.forEach(print);
  if (!opts.run && d.held.length) out.result(`\n-- held back until a backfill is done: ${d.held.map((h) => `${h.name} (waits for ${h.backfill})`).join(", ")}`);
  d.later.forEach(print);
  if (opts.run && d.heldMessages.length) {
    out.result(`\n-- after backfill ${d.held[0]!.backfill} is done, run sends:`);
    d.heldMessages.forEach(print);
  }
  if (!d.messages.length && !d.later.length && !d.heldMessages.length) out.result("-- nothing to do");
}
