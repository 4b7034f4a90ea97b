import { readFileSync } from "node:fs";
import { Option } from "commander";
import { UnsafeError } from "../../errors.js";
import { withKeel, type CommandHost } from "../with-keel.js";

const version = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** `lint [files...]`: safety findings, with the database's context when a URL is given; exit 6 when one refuses. */
export function registerLint({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("lint")
    .description("safety findings for migration files (default: the migrations folder; with a URL, its pending migrations); exit 6 when one would refuse the run")
    .argument("[files...]", "migration files or folders")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json", "github", "sarif"]).default("text"))
    .action(async (files: string[], o: { format: "text" | "json" | "github" | "sarif" }) => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const analysis = await keel.lint({ files });
          const format = await import("../../safety/format.js");
          const report =
            o.format === "json" ? format.jsonReport(analysis) : o.format === "github" ? format.githubReport(analysis) : o.format === "sarif" ? format.sarifReport(analysis, version) : format.textReport(analysis);
          if (report) out.result(report);
          const refusing = format.refusing(analysis.findings);
          if (refusing.length) {
            throw new UnsafeError(`${refusing.length} finding${refusing.length === 1 ? "" : "s"} would refuse the run (fix them, or allow each with -- pgkeel:allow <rule-id> <reason>)`, refusing);
          }
        }),
      );
    });
}
