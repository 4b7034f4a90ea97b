import type { Endpoint } from "../db/driver.js";

/**
 * Words for the failures a newcomer meets first: a refused login and a server
 * that cannot be reached. They name the role, database or host:port from the
 * URL (never its password) and say what to do.
 */

/** PgBouncer answers a refused login with SQLSTATE 08P01, the class of a lost connection. */
const poolerRoleRefusals = ["password authentication failed", "sasl authentication failed", "no such user"];
const poolerDatabaseRefusals = [/^no such database: (.+)$/i, /database "(.+)" does not exist/i];

export function isPoolerLoginRefusal(message: string): boolean {
  const lower = message.toLowerCase();
  return poolerRoleRefusals.some((m) => lower.includes(m)) || poolerDatabaseRefusals.some((re) => re.test(message));
}

const plainName = (name: string) => /^[a-z_][a-z0-9_$]*$/.test(name);
const shellWord = (name: string) => (/^[A-Za-z0-9_.$-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`);
const sqlIdent = (name: string) => (plainName(name) ? name : `"${name.replace(/"/g, '""')}"`);

/** The message of a refused login (exit 2). */
export function loginWording(sqlstate: string, message: string, endpoint: Endpoint | undefined): string {
  const viaPooler = sqlstate.startsWith("08");
  const state = viaPooler ? `SQLSTATE ${sqlstate}, from the pooler` : `SQLSTATE ${sqlstate}`;
  const missingDb = poolerDatabaseRefusals.map((re) => re.exec(message)?.[1]).find(Boolean);
  if (sqlstate === "3D000" || (viaPooler && missingDb)) {
    const db = missingDb ?? endpoint?.database ?? "";
    return (
      `database "${db}" does not exist (${state}): create it (createdb ${shellWord(db)}, or CREATE DATABASE ${sqlIdent(db)};) ` +
      `or correct the database name in the URL${viaPooler ? " (or the pooler's [databases] section)" : ""}`
    );
  }
  const lower = message.toLowerCase();
  if (sqlstate === "28P01" || (viaPooler && poolerRoleRefusals.some((m) => lower.includes(m)))) {
    const role = /for user "(.+)"/.exec(message)?.[1] ?? /no such user: (.+)$/i.exec(message)?.[1] ?? endpoint?.user;
    const what = lower.includes("no such user") ? `unknown role "${role ?? "?"}"` : `password authentication failed for role "${role ?? "?"}"`;
    return (
      `login refused: ${what} (${state}): check the user name and password in the URL` +
      `${viaPooler ? ", and that the pooler knows them (PgBouncer's auth_file or auth_query)" : ""}`
    );
  }
  if (sqlstate === "28000") return `login refused: ${message} (${state}): check the user name in the URL and the server's pg_hba.conf`;
  return `login refused: ${message} (${state})`;
}

/** A server that refuses the TCP connection: the first thing to check is whether it runs. */
export function unreachableWording(err: { address?: unknown; port?: unknown }, endpoint: Endpoint | undefined): string {
  const where = endpoint ? `${endpoint.host}:${endpoint.port}` : `${String(err.address ?? "?")}:${String(err.port ?? "?")}`;
  return `cannot reach ${where}: is the server running? (ECONNREFUSED)`;
}

/** A host name DNS does not know. */
export function unknownHostWording(message: string, endpoint: Endpoint | undefined): string {
  const host = endpoint?.host ?? /ENOTFOUND (\S+)/.exec(message)?.[1] ?? "?";
  return `cannot resolve host "${host}" (ENOTFOUND): check the host name in the URL`;
}
