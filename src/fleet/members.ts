import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defaultTuning } from "../db/driver.js";
import { pgDriver } from "../db/pg.js";
import { UsageError } from "../errors.js";
import { Gateway, type GatewayOptions } from "../gateway/gateway.js";
import { redactUrl } from "../gateway/redact.js";
import { quoteIdent } from "../state/quote.js";
import { parsePostgresUrl } from "../config/target.js";
import type { FleetConfig } from "./config.js";

/** One database, or one tenant schema of a database, that the fleet takes through the same changes. */
export interface Member {
  /** Position in the fleet (0-based), the order members are listed and run in. */
  readonly index: number;
  /** The URL the member's run connects with (a schema member's carries its search_path). */
  readonly url: string;
  /** The member's URL without its password: what every report prints. */
  readonly target: string;
  /** Schema-per-tenant: the tenant's schema, first on the search path. */
  readonly schema?: string;
  /** Schema of the member's own pgkeel state, when not the config's (one per tenant schema). */
  readonly stateSchema?: string;
  /** host:port, for the per-host connection cap. */
  readonly host: string;
}

/** How reports name a member: its URL without password, and its schema. */
export const memberName = (m: Member) => (m.schema === undefined ? m.target : `${m.target} schema ${m.schema}`);

/**
 * Lists the fleet's members from its one source: `urls`, `urlsFile` (relative to
 * `cwd`), a `query` on a control database, or `schemas` (a list or a query).
 * A query goes through a gateway of its own, closed before members run.
 */
export async function listMembers(fleet: FleetConfig, at: string, cwd: string, stateSchema: string, gateway: GatewayOptions & { applicationName: string }): Promise<Member[]> {
  if (fleet.urls) return dedupe(fleet.urls.map((u, i) => database(u, i, `${at}.urls[${i}]`)), at);
  if (fleet.urlsFile) {
    const file = resolve(cwd, fleet.urlsFile);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`${at}.urlsFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const lines = text.split(/\r?\n/).map((l, i) => ({ url: l.replace(/#.*$/, "").trim(), line: i + 1 })).filter((l) => l.url);
    return dedupe(lines.map((l, i) => database(l.url, i, `${file}:${l.line}`)), at);
  }
  if (fleet.query) {
    const urls = await firstColumn(fleet.query.url, fleet.query.sql, `${at}.query`, gateway);
    return dedupe(urls.map((u, i) => database(u, i, `${at}.query row ${i + 1}`)), at);
  }
  const s = fleet.schemas!;
  parsePostgresUrl(s.url, `${at}.schemas.url`);
  const names = s.list ?? (await firstColumn(s.url, s.sql!, `${at}.schemas.sql`, gateway));
  return dedupe(names.map((n, i) => tenant(s.url, n, i, stateSchema, `${at}.schemas`)), at);
}

function database(url: string, index: number, at: string): Member {
  const u = parsePostgresUrl(url, at);
  return { index, url, target: redactUrl(url), host: hostOf(u) };
}

/**
 * A tenant schema: connected with `options=-c search_path=<schema>,public`, a startup
 * parameter, so it is the session's default that no RESET undoes; its pgkeel state
 * lives in a schema of its own, `<state schema>_<tenant>`, beside the tenant's
 * (not in it, where pgkeel's table names could meet the application's).
 */
function tenant(url: string, schema: string, index: number, stateSchema: string, at: string): Member {
  // The name travels in a startup option, where whitespace and backslashes are separators.
  if (!schema || /[\s\\,"\0]/.test(schema)) throw new UsageError(`${at}: schema name ${JSON.stringify(schema)} cannot be used (empty, or holds whitespace, a backslash, a comma or a double quote)`);
  const state = `${stateSchema}_${schema}`;
  if (Buffer.byteLength(state) > 63) throw new UsageError(`${at}: schema name ${schema} is too long: its pgkeel state schema ${state} would pass PostgreSQL's 63-byte limit`);
  const u = parsePostgresUrl(url, at);
  const base = redactUrl(url);
  const prior = u.searchParams.get("options");
  u.searchParams.set("options", `${prior ? `${prior} ` : ""}-c search_path=${quoteIdent(schema)},public`);
  return { index, url: u.toString(), target: base, schema, stateSchema: state, host: hostOf(u) };
}


function hostOf(u: URL): string {
  return `${u.hostname || u.searchParams.get("host") || "localhost"}:${u.port || 5432}`;
}

function dedupe(members: Member[], at: string): Member[] {
  const seen = new Set<string>();
  for (const m of members) {
    const key = `${m.url}\0${m.schema ?? ""}`;
    if (seen.has(key)) throw new UsageError(`${at}: member ${m.schema ?? m.target} is listed twice`);
    seen.add(key);
  }
  if (!members.length) throw new UsageError(`${at}: the fleet has no members`);
  return members;
}

/** The first column of `sql` on `url`, as text. */
async function firstColumn(url: string, sql: string, at: string, options: GatewayOptions & { applicationName: string }): Promise<string[]> {
  parsePostgresUrl(url, `${at} url`);
  const gw = new Gateway(pgDriver(url, { ...defaultTuning, maxConnections: 1 }, options.applicationName), options);
  try {
    const rows = await gw.query<Record<string, unknown>>(`list fleet members (${at})`, sql);
    return rows.map((r, i) => {
      const v = Object.values(r)[0];
      if (typeof v !== "string" || !v.trim()) throw new UsageError(`${at}: row ${i + 1} has no text in its first column`);
      return v.trim();
    });
  } finally {
    await gw.close();
  }
}
