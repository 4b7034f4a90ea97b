import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** A throwaway project folder holding `files` (paths relative to it). */
export function makeProject(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "pgkeel-proj-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

export const cliPath = resolve(import.meta.dirname, "../../dist/cli/main.js");

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `pgkeel` binary as its own OS process. DATABASE_URL is removed
 * from its environment unless `env` gives it (an empty one is an error to pgkeel);
 * a key given as undefined is removed too. `onStderr` sees standard error as it arrives;
 * `killWhen` sees the output so far.
 */
export function runCli(
  args: string[],
  opts: {
    cwd: string;
    env?: Record<string, string | undefined>;
    killAfterMs?: number;
    killWhen?: (output: { stdout: string; stderr: string }) => Promise<boolean> | boolean;
    onStderr?: (soFar: string) => void;
    /** Sees standard output as it arrives. */
    onStdout?: (soFar: string) => void;
    /** The signal `killWhen` sends (default SIGKILL). */
    killSignal?: NodeJS.Signals;
    /** Gets the child process at once: for signals (SIGSTOP, SIGCONT). */
    onSpawn?: (child: ChildProcess) => void;
  },
): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    if (opts.env?.DATABASE_URL === undefined) delete env.DATABASE_URL;
    for (const [k, v] of Object.entries(opts.env ?? {})) if (v === undefined) delete env[k];
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    opts.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      opts.onStdout?.(stdout);
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      opts.onStderr?.(stderr);
    });
    if (opts.killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
    let exited = false;
    if (opts.killWhen) {
      // Poll for the moment to kill: a fixed delay misses it on a loaded machine.
      const poll = async () => {
        while (!exited) {
          if (await Promise.resolve(opts.killWhen!({ stdout, stderr })).catch(() => false)) {
            child.kill(opts.killSignal ?? "SIGKILL");
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      void poll();
    }
    child.on("close", (code, signal) => {
      exited = true;
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}
