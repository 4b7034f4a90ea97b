import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Environment for runCli that makes the pgkeel process record the packages it
 * loads; `loaded()` reads them back after the run.
 */
export function recordLoads(): { env: Record<string, string>; loaded: () => string[] } {
  const log = join(mkdtempSync(join(tmpdir(), "pgkeel-loads-")), "loads.txt");
  const hook = pathToFileURL(resolve(import.meta.dirname, "loads.mjs")).href;
  return {
    env: { PGKEEL_TEST_LOADS: log, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${hook}`.trim() },
    loaded: () => (existsSync(log) ? [...new Set(readFileSync(log, "utf8").split("\n").filter(Boolean))] : []),
  };
}
