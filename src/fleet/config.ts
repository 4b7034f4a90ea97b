import { UsageError } from "../errors.js";
import { durationMs } from "../sql/directives.js";

/** Where a fleet's members come from: exactly one of these. */
export interface FleetSources {
  /** Member database URLs. */
  readonly urls?: readonly string[];
  /** A file (relative to the project) with one URL per line; blank lines and `#` comments are skipped. */
  readonly urlsFile?: string;
  /** A query on a control database whose first column is each member's URL. */
  readonly query?: { readonly url: string; readonly sql: string };
  /** Schema-per-tenant: one database, its tenants' schemas as a list or a query's first column. */
  readonly schemas?: { readonly url: string; readonly list?: readonly string[]; readonly sql?: string };
}

/** One fleet of `fleets: { NAME: {...} }` in the config. */
export interface FleetConfig extends FleetSources {
  /** The first N members (or these URLs / schema names) run first, alone (default 1). */
  readonly canary?: number | readonly string[];
  /** Then these waves: a count of members, or a percentage of the fleet ("25%"); the last wave takes the rest (default ["100%"]). */
  readonly waves?: readonly (number | string)[];
  /** Members at once, overall (default 8; flag --concurrency). */
  readonly concurrency?: number;
  /** Most connections at once to one host:port (default 8); each member takes 2. */
  readonly perHost?: number;
  /** Failed members before no new member starts (default 1 in the canary wave, no limit after; flag --halt-after). */
  readonly haltAfter?: number;
  /** Wait after each wave before the next starts ("30s", "5min"; default none). */
  readonly soak?: string;
}

const sourceKeys = ["urls", "urlsFile", "query", "schemas"] as const;
const knownKeys = [...sourceKeys, "canary", "waves", "concurrency", "perHost", "haltAfter", "soak"];

const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
const wholeAtLeast = (v: unknown, min: number) => typeof v === "number" && Number.isInteger(v) && v >= min;

/** A wave size: a whole number of members, or "N%" of the fleet (1 to 100). */
export function waveSize(v: unknown): { count: number } | { percent: number } | undefined {
  if (wholeAtLeast(v, 1)) return { count: v as number };
  if (typeof v !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(v.trim());
  if (!m) return undefined;
  const percent = Number(m[1]);
  return percent > 0 && percent <= 100 ? { percent } : undefined;
}

/** Checks `fleets` of the config at `file`; a fault names the file and the key. */
export function validateFleets(value: unknown, file: string): Readonly<Record<string, FleetConfig>> {
  if (!isObject(value)) throw new UsageError(`${file}: fleets must be an object of name: fleet ({ tenants: { urls: [...] } }), got ${typeOf(value)}`);
  for (const [name, fleet] of Object.entries(value)) validateFleet(fleet, `${file}: fleets.${name}`);
  return value as Record<string, FleetConfig>;
}

function validateFleet(f: unknown, at: string): void {
  const bad = (key: string, want: string, v: unknown) => new UsageError(`${at}.${key} must be ${want}, got ${typeOf(v)}`);
  if (!isObject(f)) throw new UsageError(`${at} must be an object ({ urls: [...] }, { urlsFile }, { query }, or { schemas }), got ${typeOf(f)}`);
  for (const key of Object.keys(f)) if (!knownKeys.includes(key)) throw new UsageError(`${at}: unknown key "${key}" (known: ${knownKeys.join(", ")})`);
  const sources = sourceKeys.filter((k) => f[k] !== undefined);
  if (sources.length !== 1) {
    throw new UsageError(`${at} needs exactly one member source of urls, urlsFile, query, schemas; ${sources.length ? `got ${sources.join(" and ")}` : "got none"}`);
  }
  if (f.urls !== undefined && !isStrings(f.urls)) throw bad("urls", "an array of postgres:// URLs", f.urls);
  if (f.urlsFile !== undefined && typeof f.urlsFile !== "string") throw bad("urlsFile", "a file name", f.urlsFile);
  if (f.query !== undefined && !(isObject(f.query) && typeof f.query.url === "string" && typeof f.query.sql === "string")) {
    throw bad("query", 'an object { url: "postgres://...", sql: "SELECT url FROM ..." }', f.query);
  }
  if (f.schemas !== undefined) {
    const s = f.schemas;
    const ok = isObject(s) && typeof s.url === "string" && (s.list === undefined) !== (s.sql === undefined) && (s.list === undefined || isStrings(s.list)) && (s.sql === undefined || typeof s.sql === "string");
    if (!ok) throw bad("schemas", 'an object { url: "postgres://...", list: ["t1", ...] } or { url, sql: "SELECT ..." }', s);
  }
  if (f.canary !== undefined && !wholeAtLeast(f.canary, 0) && !isStrings(f.canary)) throw bad("canary", "a number of members (0 for none) or a list of member URLs or schema names", f.canary);
  if (f.waves !== undefined) {
    if (!Array.isArray(f.waves) || !f.waves.length) throw bad("waves", 'a non-empty array of counts or percentages ([10, "50%", "100%"])', f.waves);
    const wrong = f.waves.find((w) => waveSize(w) === undefined);
    if (wrong !== undefined) throw new UsageError(`${at}.waves: ${JSON.stringify(wrong)} is neither a whole number of members nor a percentage like "25%"`);
  }
  if (f.concurrency !== undefined && !wholeAtLeast(f.concurrency, 1)) throw bad("concurrency", "a whole number of at least 1", f.concurrency);
  if (f.perHost !== undefined && !wholeAtLeast(f.perHost, memberConnections)) throw bad("perHost", `a whole number of at least ${memberConnections} (connections; each member takes ${memberConnections})`, f.perHost);
  if (f.haltAfter !== undefined && !wholeAtLeast(f.haltAfter, 1)) throw bad("haltAfter", "a whole number of at least 1", f.haltAfter);
  if (f.soak !== undefined && !(typeof f.soak === "string" && Number.isFinite(durationMs(f.soak)))) throw bad("soak", 'a duration ("30s", "5min")', f.soak);
}

/**
 * Connections one member's run may hold at once: its unit, and the claim
 * heartbeat or index progress beside it. A fleet caps each member's pool at this,
 * so `perHost` connections are `perHost / memberConnections` members.
 */
export const memberConnections = 2;
