import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cliPath } from "./project.js";

/** Why terminal tests cannot run here, or "" when tmux is installed. */
export function tmuxSkip(): string {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    return "";
  } catch {
    return "no tmux binary (apt-get install tmux)";
  }
}

let sessions = 0;

/**
 * The pgkeel CLI in a real terminal: a tmux pane of a given size on a tmux
 * server of its own (so no other server's environment leaks in). `screen()`
 * is what a person sees; `raw()` every byte the CLI wrote, in order.
 */
export class TmuxPane {
  private readonly socket = `pgkeel-test-${process.pid}-${sessions++}`;
  private readonly log: string;

  constructor(
    readonly cwd: string,
    readonly width: number,
    args: readonly string[],
    env: Record<string, string> = {},
  ) {
    this.log = join(cwd, `${this.socket}.log`);
    const vars = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`);
    const command = ["env", "-u", "DATABASE_URL", "-u", "NO_COLOR", ...vars, shellQuote(process.execPath), shellQuote(cliPath), ...args.map(shellQuote)].join(" ");
    // The pane stays after the CLI ends so its last screen can be read.
    const script = join(cwd, `${this.socket}.sh`);
    writeFileSync(script, `${command}\necho "[exit $?]"\nexec sleep 600\n`);
    this.tmux("new-session", "-d", "-x", String(width), "-y", "40", "-c", cwd, `sh ${shellQuote(script)}`);
    this.tmux("pipe-pane", "-o", `cat >> ${shellQuote(this.log)}`);
  }

  /** The screen as text, wrapped lines joined (so a too-long line shows as one long line). */
  screen(opts: { escapes?: boolean } = {}): string[] {
    const out = this.tmux("capture-pane", "-p", "-J", ...(opts.escapes ? ["-e"] : []));
    return out.replace(/\n+$/, "").split("\n");
  }

  raw(): string {
    return existsSync(this.log) ? readFileSync(this.log, "utf8") : "";
  }

  /** Polls the screen until `pred` holds (the state a test needs, not a time). */
  async waitFor(pred: (screen: string[]) => boolean, what: string, timeoutMs = 30_000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = this.screen();
      if (pred(s)) return s;
      if (Date.now() > end) throw new Error(`waited ${timeoutMs} ms for ${what}; the screen:\n${s.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  exited(): Promise<string[]> {
    return this.waitFor((s) => s.some((l) => /^\[exit \d+\]$/.test(l)), "the CLI to exit");
  }

  kill(): void {
    try {
      this.tmux("kill-server");
    } catch {
      // already gone
    }
  }

  private tmux(...args: string[]): string {
    return execFileSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" });
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
