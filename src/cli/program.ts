import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { positiveInt } from "./positive-int.js";
import { registerAdopt } from "./commands/adopt.js";
import { registerBaseline } from "./commands/baseline.js";
import { registerCreate } from "./commands/create.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerLint } from "./commands/lint.js";
import { registerPhases } from "./commands/phases.js";
import { registerPlan } from "./commands/plan.js";
import { registerRepair } from "./commands/repair.js";
import { registerStatus } from "./commands/status.js";
import { registerWait } from "./commands/wait.js";
import type { GlobalFlags } from "./with-keel.js";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export { positiveInt };

/** The CLI: global flags here, each command in its own module under commands/. */
export function program(setExit: (code: number) => void): Command {
  const cli = new Command("pgkeel")
    .description("PostgreSQL schema changes that finish: migrations, concurrent index builds and batched backfills")
    .version(version)
    .option("--url <url>", "database URL (else --via, DATABASE_URL, the config's url, else embedded PGlite)")
    .option("--via <name>", "use the config's urls.<name>")
    .option("--config <file>", "config file (default pgkeel.config.{ts,mjs,js,json})")
    .option("--cwd <dir>", "project folder (default: current directory)")
    .option("--migrations-dir <dir>", "migrations folder (default db/migrations)")
    .option("--indexes-dir <dir>", "indexes folder (default db/indexes)")
    .option("--backfills-dir <dir>", "backfills folder (default db/backfills)")
    .option("--json", "machine-readable output: one JSON event per line")
    .option("--quiet", "print only results, retries, warnings and errors")
    .addOption(new Option("--max-retries <n>", "attempts per unit before giving up (default 10)").argParser(positiveInt("--max-retries")))
    .addOption(new Option("--retry-cap <ms>", "longest wait between attempts in ms (default 8000)").argParser(positiveInt("--retry-cap")))
    .showHelpAfterError()
    .exitOverride();

  const host = { cli, flags: () => cli.opts<GlobalFlags>(), setExit };
  registerPhases(host);
  registerStatus(host);
  registerPlan(host);
  registerCreate(host);
  registerDoctor(host);
  registerBaseline(host);
  registerAdopt(host);
  registerRepair(host);
  registerWait(host);
  registerLint(host);
  return cli;
}
