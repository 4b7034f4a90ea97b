import { spawn } from "node:child_process";
import { cliPath, type CliRun } from "../support/project.js";

/** A CLI process we can signal while it works; `stderr()` and `stdout()` read what it printed so far. */
export function startCli(args: string[], cwd: string) {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { ...process.env, DATABASE_URL: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<CliRun>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stderr: () => stderr, stdout: () => stdout };
}

export { until } from "../support/wait.js";
