import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { UsageError } from "../errors.js";
import { durationMs } from "../sql/directives.js";
import { validateFleets, type FleetConfig } from "../fleet/config.js";
import type { SafetyConfig } from "../safety/settings.js";
import { backfillConfigProblem, type HealthConfig } from "../phases/backfill/health-config.js";

/** What `pgkeel.config.{ts,mjs,js,json}` may hold. */
export interface KeelConfig {
  /** The database URL (after `--url` and `DATABASE_URL`). */
  readonly url?: string;
  /** Named URLs, one picked with `--via NAME`, e.g. `{ pooler: ..., direct: ... }`. */
  readonly urls?: Readonly<Record<string, string>>;
  readonly migrationsDir?: string;
  readonly indexesDir?: string;
  readonly backfillsDir?: string;
  /** Schema of pgkeel's own tables (default `pgkeel`). */
  readonly schema?: string;
  /** Default `lock_timeout` of migration transactions (default `5s`). */
  readonly lockTimeout?: string;
  /**
   * How long a transaction of pgkeel's may sit idle before the server ends it
   * (`idle_in_transaction_session_timeout`, default `60s`): a runner that hangs
   * inside a migration cannot hold the others back for longer.
   */
  readonly idleInTransactionTimeout?: string;
  /** Workers per backfill in one process (default 1; flag `--workers`). */
  readonly workers?: number;
  /** Attempts per unit (default 10). */
  readonly maxRetries?: number;
  /** Longest wait between attempts in ms (default 8000). */
  readonly retryCapMs?: number;
  /** Upper bound of the first wait in ms (default 800). */
  readonly retryFirstMs?: number;
  /** A dead runner's claim expires after this many seconds (default 30). */
  readonly claimTtlSeconds?: number;
  /** How long to wait for another process using the embedded database, in seconds (default 300). */
  readonly embeddedWaitSeconds?: number;
  /** Safety analysis: `{ minRows: 10000, rules: { "prefer-identity": "warning", "ban-drop-column": "off" } }`. */
  readonly safety?: SafetyConfig;
  /** Named fleets of databases or schemas, run with `--fleet NAME` (see src/fleet/config.ts). */
  readonly fleets?: Readonly<Record<string, FleetConfig>>;
  /** Backfill settings: `{ health: { replicationLag: "10s", lockWaiters: 0, ... } }`. */
  readonly backfill?: { readonly health?: HealthConfig };
}

type Kind = "string" | "duration" | "number" | "urls" | "safety" | "fleets" | "backfill";
const kinds: Record<keyof KeelConfig, Kind> = {
  url: "string",
  urls: "urls",
  migrationsDir: "string",
  indexesDir: "string",
  backfillsDir: "string",
  schema: "string",
  lockTimeout: "string",
  idleInTransactionTimeout: "duration",
  workers: "number",
  maxRetries: "number",
  retryCapMs: "number",
  retryFirstMs: "number",
  claimTtlSeconds: "number",
  embeddedWaitSeconds: "number",
  safety: "safety",
  fleets: "fleets",
  backfill: "backfill",
};

export const configNames = ["pgkeel.config.ts", "pgkeel.config.mjs", "pgkeel.config.js", "pgkeel.config.json"];

/** Finds and loads the config: `explicit` (must exist) or the first default name in `cwd`. */
export async function loadConfig(cwd: string, explicit?: string): Promise<{ config: KeelConfig; file?: string }> {
  const file = explicit ? resolve(cwd, explicit) : configNames.map((n) => resolve(cwd, n)).find((f) => existsSync(f));
  if (!file) return { config: {} };
  if (!existsSync(file)) throw new UsageError(`${file}: config file not found`);
  let raw: unknown;
  try {
    if (file.endsWith(".json")) raw = JSON.parse(readFileSync(file, "utf8"));
    else raw = await importModule(file);
  } catch (e) {
    throw new UsageError(`${file}: cannot load config: ${(e as Error).message}`);
  }
  return { config: validate(raw, file), file };
}

/**
 * Imports a .ts/.mjs/.js module without a build step; returns its default export, or the module.
 * In a CommonJS project (package.json without `"type": "module"`) tsx compiles
 * `export default x` to CommonJS, which arrives as `{ default: { default: x } }`:
 * the inner default is the one the file meant.
 */
export async function importModule(file: string): Promise<unknown> {
  const mod = (file.endsWith(".ts") || file.endsWith(".mts") || file.endsWith(".cts")
    ? await (await import("tsx/esm/api")).tsImport(pathToFileURL(file).href, import.meta.url)
    : await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const value = mod.default ?? mod;
  const compiled = value as { __esModule?: unknown; default?: unknown } | null;
  if (typeof compiled === "object" && compiled !== null && compiled.__esModule === true && compiled.default !== undefined) return compiled.default;
  return value;
}

const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`);

function validate(raw: unknown, file: string): KeelConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new UsageError(`${file}: the config must be an object (export default { url: ..., migrationsDir: ... }), got ${typeOf(raw)}`);
  }
  const bad = (key: string, want: string, value: unknown) => new UsageError(`${file}: ${key} must be ${want}, got ${typeOf(value)}`);
  for (const [key, value] of Object.entries(raw)) {
    const kind = kinds[key as keyof KeelConfig];
    if (!kind) {
      throw new UsageError(`${file}: unknown config key "${key}" (known: ${Object.keys(kinds).join(", ")})`);
    }
    if (kind === "fleets") validateFleets(value, file);
    else if (kind === "backfill") {
      const problem = backfillConfigProblem(value);
      if (problem) throw new UsageError(`${file}: ${problem}`);
    } else if (kind === "safety") {
      if (!isSafetyConfig(value)) throw bad(key, 'an object { minRows?: number >= 0, rules?: { "<rule-id>": "error" | "warning" | "off" } }', value);
    } else if (kind === "urls") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad(key, 'an object of name: URL ({ "direct": "postgres://..." })', value);
      for (const [name, url] of Object.entries(value)) if (typeof url !== "string") throw bad(`${key}.${name}`, "a string (a postgres:// URL)", url);
    } else if (kind === "number") {
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw bad(key, "a non-negative number", value);
    } else if (kind === "duration") {
      // Sent to the server in every transaction: a bad value must stop the run here, not there.
      if (typeof value !== "string" || Number.isNaN(durationMs(value))) throw bad(key, 'a duration such as "60s", "500ms" or "0" (off)', value);
    } else if (typeof value !== "string") throw bad(key, "a string", value);
  }
  return raw as KeelConfig;
}

/** The shape of `safety`; rule ids are checked against the rules when the analysis runs. */
function isSafetyConfig(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const { minRows, rules, ...rest } = v as { minRows?: unknown; rules?: unknown };
  if (Object.keys(rest).length) return false;
  if (minRows !== undefined && !(typeof minRows === "number" && Number.isFinite(minRows) && minRows >= 0)) return false;
  if (rules === undefined) return true;
  return typeof rules === "object" && rules !== null && !Array.isArray(rules) && Object.values(rules).every((l) => l === "error" || l === "warning" || l === "off");
}
