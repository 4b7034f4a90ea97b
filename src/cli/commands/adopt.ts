import { Option } from "commander";
import { tools } from "../../adopt/tools.js";
import { withKeel, type CommandHost } from "../with-keel.js";

/** `adopt --from TOOL`: import another tool's applied migrations. */
export function registerAdopt({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("adopt")
    .description("record the migrations another tool applied as applied in pgkeel, matched to the project's files by name")
    .addOption(new Option("--from <tool>", "the tool that applied them").choices(Object.keys(tools)).makeOptionMandatory())
    .option("--table <name>", "its tracking table, [schema.]name, when not the tool's default on the search path")
    .option("--dry-run", "show the mapping; record nothing")
    .option("--allow-unmatched", "record the matched ones even though some applied migrations match no file")
    .action(async (o: { from: string; table?: string; dryRun?: boolean; allowUnmatched?: boolean }) => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          if (o.dryRun) out.result(`-- dry run: nothing is recorded; the mapping adopt --from ${o.from} would use`);
          const r = await keel.adopt({ from: o.from, table: o.table, dryRun: o.dryRun, allowUnmatched: o.allowUnmatched });
          if (flags().json) return out.result(JSON.stringify(r));
          const width = Math.max(0, ...r.matched.map((m) => m.entry.length));
          out.result(`${o.from} (${r.table}): ${r.matched.length} matched, ${r.unmatched.length} unmatched`);
          for (const m of r.matched) out.result(`  ${m.entry.padEnd(width)}  ->  ${m.file}  (by ${m.by === "up-to" ? "version range" : m.by})`);
          for (const u of r.unmatched) out.result(`  ${u.entry}  ->  NO MATCH: ${u.reason}`);
          for (const s of r.skipped) out.result(`  ${s.id}  ->  not adopted: ${s.reason}`);
          for (const f of r.pending) out.result(`  (not applied by ${o.from})  ${f}: stays pending`);
          if (!r.dryRun) out.log(`adopt: ${r.recorded.length} recorded as applied${r.already.length ? `, ${r.already.length} already recorded` : ""}`);
        }),
      );
    });
}
