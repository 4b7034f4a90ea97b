import { resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { dotEnvDatabaseUrl } from "../config/dotenv.js";
import { secretsOf } from "../gateway/redact.js";
import { createKeel, type Keel, type KeelOptions } from "../keel.js";
import { Output } from "./output.js";
import { stopOnSignals } from "./stop-signals.js";

/** The flags every command takes (SPEC section 6, "Global flags"). */
export interface GlobalFlags {
  url?: string;
  via?: string;
  config?: string;
  cwd?: string;
  migrationsDir?: string;
  indexesDir?: string;
  backfillsDir?: string;
  json?: boolean;
  quiet?: boolean;
  maxRetries?: number;
  retryCap?: number;
  /** `backfill --workers`: also sizes the connection pool. */
  workers?: number;
}

/**
 * The keel options the global flags give, with every secret the run may meet
 * (flags, environment, .env, the config's URLs and fleets) known to `out` first.
 */
export async function keelOptions(flags: GlobalFlags, out: Output): Promise<KeelOptions> {
  out.secrets = [...secretsOf(flags.url), ...secretsOf(process.env.DATABASE_URL)];
  const cwd = resolve(flags.cwd ?? process.cwd());
  out.secrets.push(...secretsOf(dotEnvDatabaseUrl(cwd)));
  // Secrets of the config's URLs are known before anything can print them.
  try {
    const { config } = await loadConfig(cwd, flags.config);
    out.secrets.push(...secretsOf(config.url), ...Object.values(config.urls ?? {}).flatMap((u) => secretsOf(u)));
    for (const f of Object.values(config.fleets ?? {})) out.secrets.push(...[...(f.urls ?? []), f.query?.url, f.schemas?.url].flatMap((u) => secretsOf(u)));
  } catch {
    // The keel reports a bad config itself.
  }
  return {
    cwd,
    url: flags.url,
    via: flags.via,
    config: flags.config,
    migrationsDir: flags.migrationsDir,
    indexesDir: flags.indexesDir,
    backfillsDir: flags.backfillsDir,
    maxRetries: flags.maxRetries,
    retryCapMs: flags.retryCap,
    workers: flags.workers,
    onEvent: (e) => out.event(e),
  };
}

/** What a command module gets to register itself with. */
export interface CommandHost {
  readonly cli: Command;
  /** The global flags as parsed. */
  flags(): GlobalFlags;
  /** Sets the process's exit status. */
  setExit(code: number): void;
}

/**
 * Runs one command with the keel, printing through Output, and returns the exit status.
 * `eventsToStdout`: with --json, commands that print a result object keep stdout for it.
 */
export async function withKeel(
  flags: GlobalFlags,
  eventsToStdout: boolean,
  body: (keel: Keel, out: Output) => Promise<void | number>,
): Promise<number> {
  const out = new Output({ json: !!flags.json, quiet: !!flags.quiet, eventsToStdout });
  const options = await keelOptions(flags, out);
  const stop = stopOnSignals((line) => out.log(line));
  const keel = createKeel({ ...options, signal: stop.signal });
  try {
    // A body may return its own exit status (status --check).
    return (await body(keel, out)) ?? 0;
  } catch (e) {
    return out.failure(e);
  } finally {
    out.close();
    await keel.close().catch(() => {});
    stop.dispose();
  }
}
