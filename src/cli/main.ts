#!/usr/bin/env node
import { CommanderError } from "commander";
import { UsageError } from "../errors.js";
import { program } from "./program.js";

async function main(): Promise<void> {
  // Names this process in `ps` and in the embedded database's lock file.
  process.title = "pgkeel";
  let code = 0;
  const cli = program((c) => (code = c));
  try {
    await cli.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; anything else commander rejects is usage (2).
      code = e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    } else if (e instanceof UsageError) {
      process.stderr.write(`pgkeel: ${e.message}\n`);
      code = 2;
    } else throw e;
  }
  process.exitCode = code;
}

await main();
