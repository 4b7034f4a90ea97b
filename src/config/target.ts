import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { redactUrl } from "../gateway/redact.js";
import type { KeelConfig } from "./config.js";
import { dotEnvDatabaseUrl } from "./dotenv.js";

/** The one database a run talks to, chosen once at start (SPEC section 3). */
export type Target =
  | { readonly kind: "url"; readonly url: string; readonly source: string; readonly display: string }
  | { readonly kind: "pglite"; readonly dir: string; readonly display: string };

export interface TargetInputs {
  readonly url?: string;
  readonly via?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly config: KeelConfig;
  readonly cwd: string;
}

const fixes = "pass --url, set DATABASE_URL, or set url in pgkeel.config";

/**
 * First found wins: `--url`, `--via NAME` (config `urls`), `DATABASE_URL` (the
 * environment's, else the project's `.env`), config `url`. The embedded PGlite
 * database only when nothing at all names a database: an empty DATABASE_URL, a
 * config with `urls` but none chosen, or NODE_ENV=production is a
 * configuration error, never a silent throwaway database.
 */
export function chooseTarget(i: TargetInputs): Target {
  if (i.url && i.via) throw new UsageError("--url and --via cannot be used together");
  if (i.url) return fromUrl(i.url, "--url");
  if (i.via) {
    const url = i.config.urls?.[i.via];
    if (!url) {
      const names = Object.keys(i.config.urls ?? {});
      throw new UsageError(`--via ${i.via}: no such URL in the config (${names.length ? `known: ${names.join(", ")}` : "the config has no urls"})`);
    }
    return fromUrl(url, `config urls.${i.via}`);
  }
  const env = i.env.DATABASE_URL;
  if (env !== undefined) {
    if (!env.trim()) {
      throw new UsageError(
        "DATABASE_URL is set but empty: set it to a postgres:// URL, or unset it to use the embedded database (pgkeel uses that only when nothing names a database)",
      );
    }
    return fromUrl(env, "DATABASE_URL");
  }
  const dotEnv = dotEnvDatabaseUrl(i.cwd);
  if (dotEnv !== undefined) {
    if (!dotEnv.trim()) throw new UsageError(`DATABASE_URL in ${resolve(i.cwd, ".env")} is empty: give it a postgres:// URL, or remove the line`);
    return fromUrl(dotEnv, "DATABASE_URL in .env");
  }
  if (i.config.url) return fromUrl(i.config.url, "config url");
  const names = Object.keys(i.config.urls ?? {});
  if (names.length) {
    throw new UsageError(
      `the config names URLs (${names.join(", ")}) but none is chosen: pass --via ${names[0]} (or another name), or set url in the config`,
    );
  }
  if (i.env.NODE_ENV === "production") {
    throw new UsageError(`no database URL, and NODE_ENV=production: pgkeel will not use its embedded database in production; ${fixes}`);
  }
  const dir = resolve(i.cwd, ".pgkeel", "pglite");
  return { kind: "pglite", dir, display: `embedded PGlite database in ${dir}` };
}

/** A postgres:// or postgresql:// URL, else a usage error naming where it came from (password removed). */
export function parsePostgresUrl(url: string, source: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${source}: not a valid URL (${redactUrl(url)})`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new UsageError(`${source}: expected a postgres:// or postgresql:// URL, got ${parsed.protocol}//`);
  }
  return parsed;
}

function fromUrl(url: string, source: string): Target {
  parsePostgresUrl(url, source);
  return { kind: "url", url, source, display: `${redactUrl(url)} (from ${source})` };
}
