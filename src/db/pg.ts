import type { EventEmitter } from "node:events";
import { userInfo } from "node:os";
import pg from "pg";
import type { ConnectionTuning, Driver, Endpoint, Session, StatementResult } from "./driver.js";

/**
 * A driver on node-postgres. `discard()` swaps in a whole new pool, as the gateway's retry requires.
 * `applicationName` names every connection in pg_stat_activity; pgkeel gives each runner its own
 * (`pgkeel:<runner id>`) so another runner can tell whether a statement it started still runs.
 */
export function pgDriver(url: string, tuning: ConnectionTuning, applicationName = "pgkeel"): Driver {
  const lastUsed = new WeakMap<pg.PoolClient, number>();
  // Connections open now, over every pool: close() returns once the server has closed them all.
  let open = 0;
  let allClosed: (() => void) | undefined;
  let pool = newPool();
  const endpoint = endpointOf(url);

  function newPool(): pg.Pool {
    const p = new pg.Pool({
      connectionString: withoutApplicationName(libpqSslSemantics(url)),
      max: tuning.maxConnections,
      connectionTimeoutMillis: tuning.connectTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: tuning.keepAliveInitialDelayMs,
      maxLifetimeSeconds: tuning.maxLifetimeSeconds,
      idleTimeoutMillis: 30_000,
      // A startup parameter PgBouncer accepts by default (unlike `options`), and passes on to the server.
      application_name: applicationName,
    });
    // An idle client whose server went away emits 'error'; without a listener the process dies.
    p.on("error", () => {});
    p.on("connect", () => open++);
    // 'remove' comes once the socket closed, after the server's backend has left pg_stat_activity.
    p.on("remove", () => {
      if (--open === 0) allClosed?.();
    });
    return p;
  }

  const listened = new WeakSet<pg.PoolClient>();

  async function checkedOut(): Promise<pg.PoolClient> {
    const client = await pool.connect();
    // A checked-out client whose socket dies emits 'error' besides failing its query;
    // the failure is handled where the query fails, so the event must not crash the process.
    if (!listened.has(client)) {
      listened.add(client);
      client.on("error", () => {});
    }
    const idleSince = lastUsed.get(client);
    if (idleSince !== undefined && Date.now() - idleSince > tuning.checkAfterIdleMs) {
      try {
        await client.query("SELECT 1");
      } catch {
        client.release(true);
        return pool.connect();
      }
    }
    return client;
  }

  return {
    kind: "pg",
    async acquire(): Promise<Session> {
      const client = await checkedOut().catch((e: unknown) => {
        if (typeof e === "object" && e !== null) Object.defineProperty(e, "endpoint", { value: endpoint, enumerable: false });
        throw e;
      });
      const raw = client as unknown as { processID?: number; connection?: { stream?: { encrypted?: boolean } } };
      let released = false;
      return {
        announcedPid: raw.processID ?? undefined,
        tls: raw.connection?.stream?.encrypted === true,
        async query(text, params) {
          // Each statement of a message that completes sends CommandComplete: counted, they
          // say which statement failed, without running anything again.
          const con = (client as unknown as { connection: EventEmitter }).connection;
          let completed = 0;
          const count = () => void completed++;
          con.on("commandComplete", count);
          try {
            const res = (await client.query({ text, values: params as unknown[] | undefined })) as
              | pg.QueryResult
              | pg.QueryResult[];
            return (Array.isArray(res) ? res : [res]).map(toResult);
          } catch (e) {
            if (typeof e === "object" && e !== null) Object.defineProperty(e, "completedStatements", { value: completed, enumerable: false });
            throw e;
          } finally {
            con.off("commandComplete", count);
          }
        },
        release(broken) {
          if (released) return;
          released = true;
          lastUsed.set(client, Date.now());
          client.release(broken ? true : undefined);
        },
      };
    },
    async discard() {
      const old = pool;
      pool = newPool();
      // Not awaited: end() waits for checked-out clients, and a broken one may never answer.
      old.end().catch(() => {});
    },
    async close() {
      // end() waits for every checked-out client; one stuck on a dead socket must not hold the process.
      // It resolves before the sockets close: wait for those too, so a caller that counts
      // connections per server (a fleet's per-host cap) never overlaps a closing pool with a new one.
      const closed = new Promise<void>((r) => (open === 0 ? r() : (allClosed = r)));
      await Promise.race([pool.end().catch(() => {}).then(() => closed), new Promise((r) => setTimeout(r, 5_000).unref())]);
    },
  };
}

/** The URL's host, port, role and database, with node-postgres's defaults for what it leaves out. */
function endpointOf(url: string): Endpoint | undefined {
  try {
    const u = new URL(url);
    const user = decodeURIComponent(u.username) || process.env.PGUSER || process.env.USER || userInfo().username;
    return {
      host: u.hostname || u.searchParams.get("host") || "localhost",
      port: Number(u.port || 5432),
      user,
      database: decodeURIComponent(u.pathname.slice(1)) || user,
    };
  } catch {
    return undefined;
  }
}

function toResult(r: pg.QueryResult): StatementResult {
  return { rows: r.rows ?? [], rowCount: r.rowCount, command: r.command };
}

/** `sslmode` means what libpq says it means (node-postgres otherwise reads `require` as `verify-full`). */
function libpqSslSemantics(url: string): string {
  try {
    const u = new URL(url);
    if (u.searchParams.has("sslmode") && !u.searchParams.has("uselibpqcompat")) u.searchParams.set("uselibpqcompat", "true");
    return u.toString();
  } catch {
    return url;
  }
}

/** The URL's own application_name would win over ours, and pgkeel finds its statements by it. */
function withoutApplicationName(url: string): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has("application_name")) return url;
    u.searchParams.delete("application_name");
    return u.toString();
  } catch {
    return url;
  }
}
