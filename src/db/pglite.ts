import { mkdirSync } from "node:fs";
import type { PGlite } from "@electric-sql/pglite";
import type { Driver, Session, StatementResult } from "./driver.js";

/**
 * A driver on an embedded PGlite database kept in `dataDir`. PGlite is one
 * connection, so sessions are handed out one at a time, in order.
 */
export function pgliteDriver(dataDir: string): Driver {
  let db: PGlite | undefined;
  let queue: Promise<void> = Promise.resolve();

  async function open(): Promise<PGlite> {
    if (!db) {
      mkdirSync(dataDir, { recursive: true });
      // Loaded only when used: runs against a server do not pay for it.
      const { PGlite: Embedded } = await import("@electric-sql/pglite");
      db = new Embedded(dataDir);
      await db.waitReady;
    }
    return db;
  }

  return {
    kind: "pglite",
    async acquire(): Promise<Session> {
      let free!: () => void;
      const previous = queue;
      queue = new Promise<void>((resolve) => (free = resolve));
      await previous;
      const conn = await open().catch((e) => {
        free();
        throw e;
      });
      let released = false;
      return {
        announcedPid: undefined,
        tls: false,
        async query(text, params) {
          if (params && params.length > 0) return [toResult(await conn.query(text, params as unknown[]))];
          return (await conn.exec(text)).map(toResult);
        },
        release() {
          if (released) return;
          released = true;
          free();
        },
      };
    },
    async discard() {
      // Nothing to reconnect: the database lives in this process.
    },
    async close() {
      await queue;
      await db?.close();
      db = undefined;
    },
  };
}

function toResult(r: { rows: unknown[]; affectedRows?: number; fields: unknown[] } & { command?: string }): StatementResult {
  return {
    rows: r.rows as Record<string, unknown>[],
    rowCount: r.affectedRows ?? null,
    command: r.command ?? "",
  };
}
