import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { redactUrl } from "../gateway/redact.js";
import type { KeelConfig } from "./config.js";

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

/** First found wins: `--url`, `--via NAME` (config `urls`), `DATABASE_URL`, config `url`, else PGlite. */
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
  if (i.env.DATABASE_URL) return fromUrl(i.env.DATABASE_URL, "DATABASE_URL");
  if (i.config.url) return fromUrl(i.config.url, "config url");
  const dir = resolve(i.cwd, ".pgkeel", "pglite");
  return { kind: "pglite", dir, display: `embedded PGlite database in ${dir}` };
}

function fromUrl(url: string, source: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${source}: not a valid URL (${redactUrl(url)})`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new UsageError(`${source}: expected a postgres:// or postgresql:// URL, got ${parsed.protocol}//`);
  }
  return { kind: "url", url, source, display: `${redactUrl(url)} (from ${source})` };
}
