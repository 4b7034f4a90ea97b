import { withKeel, type CommandHost } from "../with-keel.js";

const many = (v: string, prev: string[] = []) => [...prev, v];

/** `repair`: put pgkeel's records right, in one transaction, each change printed. */
export function registerRepair({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("repair")
    .description("accept changed checksums, forget missing files, resolve a statement of unknown outcome; one transaction, each change printed")
    .option("--only <name>", "repair only this migration (repeatable)", many)
    .option("--forget-missing", "forget the records of applied migrations whose file is gone")
    .option("--mark-done <name:step>", "record statement STEP (from 1) of a no-transaction migration as done (repeatable)", many)
    .option("--retry <name:step>", "clear statement STEP's mark so the next run sends it again (repeatable)", many)
    .action(async (o: { only?: string[]; forgetMissing?: boolean; markDone?: string[]; retry?: string[] }) => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const changes = await keel.repair(o);
          if (flags().json) return out.result(JSON.stringify({ changes }));
          for (const c of changes) out.result(`${c.action.padEnd(15)} ${c.migration}${c.step ? `:${c.step}` : ""}: ${c.detail}`);
          out.log(changes.length ? `repair: ${changes.length} change(s), committed together` : "repair: nothing to repair");
        }),
      );
    });
}
