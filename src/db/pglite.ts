import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { EmbeddedBusyError, StoppedError } from "../errors.js";
import { acquireLock, describeHolder, LockBusy, type Holder } from "./dir-lock.js";
import type { Driver, Session, StatementResult } from "./driver.js";

export interface PgliteOptions {
  /** How long to wait for another process that has the data directory open, ms (default 300 s). */
  readonly waitMs?: number;
  /** Called once when this process has to wait for another one. */
  readonly onWait?: (holder: string) => void;
  /** A graceful stop (SIGINT / SIGTERM) ends the wait. */
  readonly stop?: AbortSignal;
}

export const defaultEmbeddedWaitMs = 300_000;

/**
 * A driver on an embedded PGlite database kept in `dataDir`. PGlite is one
 * connection, so sessions are handed out one at a time, in order.
 *
 * Two PGlite instances on one directory each believe they own it and overwrite
 * each other's pages, so the directory is locked (`<dataDir>.lock`) before it is
 * opened and until it is closed: one process, and one driver, at a time.
 */
export function pgliteDriver(dataDir: string, options: PgliteOptions = {}): Driver {
  let db: PGlite | undefined;
  let unlock: (() => void) | undefined;
  let queue: Promise<void> = Promise.resolve();

  async function open(): Promise<PGlite> {
    if (!db) {
      mkdirSync(dirname(dataDir), { recursive: true });
      unlock ??= await lock(dataDir, options);
      mkdirSync(dataDir, { recursive: true });
      // Loaded only when used: runs against a server do not pay for it.
      const [{ PGlite: Embedded }, { contribExtensions }] = await Promise.all([import("@electric-sql/pglite"), import("./pglite-extensions.js")]);
      db = new Embedded(dataDir, { extensions: await contribExtensions() });
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
      try {
        await db?.close();
      } finally {
        db = undefined;
        unlock?.();
        unlock = undefined;
      }
    },
  };
}

async function lock(dataDir: string, options: PgliteOptions): Promise<() => void> {
  const waitMs = options.waitMs ?? defaultEmbeddedWaitMs;
  try {
    return await acquireLock(`${dataDir}.lock`, { waitMs, onWait: (h: Holder) => options.onWait?.(describeHolder(h)), signal: options.stop });
  } catch (e) {
    if (options.stop?.aborted) throw new StoppedError(String(options.stop.reason));
    if (!(e instanceof LockBusy)) throw e;
    const holder = e.holder ? describeHolder(e.holder) : `an unreadable lock file ${e.path}`;
    throw new EmbeddedBusyError(
      `the embedded database ${dataDir} is in use by ${holder}; gave up waiting after ${Math.round(waitMs / 1000)} s ` +
        `(config embeddedWaitSeconds). If that process is gone, delete ${e.path}`,
    );
  }
}

function toResult(r: { rows: unknown[]; affectedRows?: number; fields: unknown[] } & { command?: string }): StatementResult {
  return {
    rows: r.rows as Record<string, unknown>[],
    rowCount: r.affectedRows ?? null,
    command: r.command ?? "",
  };
}
