import { withKeel, type CommandHost } from "../with-keel.js";

/** `baseline [--to NAME]`: record migrations as applied without running them. */
export function registerBaseline({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("baseline")
    .description("record migrations as applied without running them, on a database that already has them (idempotent)")
    .option("--to <name>", "record up to and including this migration (default: every file, on a database pgkeel has not touched)")
    .action(async (o: { to?: string }) => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const r = await keel.baseline({ to: o.to });
          if (flags().json) return out.result(JSON.stringify(r));
          for (const name of r.recorded) out.result(`recorded ${name} as applied (not run)`);
          if (r.hadHistory) out.log("baseline: pgkeel already has applied migrations here, so nothing was recorded (name --to NAME to record more)");
          else out.log(`baseline: ${r.recorded.length} recorded${r.already.length ? `, ${r.already.length} already recorded` : ""}`);
        }),
      );
    });
}
