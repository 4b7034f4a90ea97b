/**
 * The no-op deploy: `pgkeel migrate` (and `status`) with every migration applied
 * and unchanged, beside node-pg-migrate's `up` on the same files, on each server
 * (bench/servers.ts). Every pod of every deploy pays this at start.
 *
 *   npm run bench:noop                        # 500 migrations, 5 runs, both servers
 *   npm run bench:noop -- --n 100 --runs 3 --server stock
 *
 * The files are the migration benchmark's (three statements each, plain SQL,
 * which node-pg-migrate runs as its up migration). Both tools apply them once,
 * each into its own database; then each no-op run is a new OS process, the tools
 * taking turns, so machine load falls on all alike. `node -e 0` is Node's own
 * start-up. Round trips are counted at an in-process proxy (no added latency).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { FaultProxy } from "../tests/support/proxy.js";
import { serverKinds, startServer } from "./servers.js";
import { arg } from "./args.js";

const n = Number(arg("n", "500"));
const runs = Number(arg("runs", "5"));
const run = promisify(execFile);
const cli = resolve(import.meta.dirname, "../dist/cli/main.js");
const npm = resolve(import.meta.dirname, "../node_modules/node-pg-migrate/bin/node-pg-migrate.js");

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), "pgkeel-noop-"));
  mkdirSync(join(dir, "db/migrations"), { recursive: true });
  for (let i = 0; i < n; i++) {
    writeFileSync(
      join(dir, `db/migrations/${String(i).padStart(6, "0")}_m.sql`),
      `CREATE TABLE t${i} (id bigserial PRIMARY KEY, a text);\nALTER TABLE t${i} ADD COLUMN b integer;\nCREATE INDEX t${i}_b_idx ON t${i} (b);\n`,
    );
  }
  return dir;
}

async function query<R>(url: string, text: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as R[];
  } finally {
    await c.end();
  }
}

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const noEnvUrl = { ...process.env, DATABASE_URL: "" };

async function onServer(kind: string, cwd: string): Promise<string[]> {
  const server = await startServer(kind);
  const base = new URL(server.url);
  const proxy = await new FaultProxy(base.hostname, Number(base.port || 5432)).start();
  const keelDb = `noop_keel_${process.pid}`;
  const npmDb = `noop_npm_${process.pid}`;
  try {
    for (const db of [keelDb, npmDb]) await query(withDb(server.url, "postgres"), `CREATE DATABASE ${db}`);
    const keelUrl = proxy.url(withDb(server.url, keelDb));
    const npmUrl = proxy.url(withDb(server.url, npmDb));
    await run(process.execPath, [cli, "migrate", "--quiet", "--cwd", cwd, "--url", keelUrl], { env: noEnvUrl });
    await run(process.execPath, [npm, "up", "-m", join(cwd, "db/migrations")], { env: { ...process.env, DATABASE_URL: npmUrl } });
    const tools: Record<string, () => Promise<unknown>> = {
      "pgkeel migrate": () => run(process.execPath, [cli, "migrate", "--quiet", "--cwd", cwd, "--url", keelUrl], { env: noEnvUrl }),
      "pgkeel status": () => run(process.execPath, [cli, "status", "--json", "--cwd", cwd, "--url", keelUrl], { env: noEnvUrl }),
      "node-pg-migrate up": () => run(process.execPath, [npm, "up", "-m", join(cwd, "db/migrations")], { env: { ...process.env, DATABASE_URL: npmUrl } }),
      "node -e 0": () => run(process.execPath, ["-e", "0"]),
    };
    const times = new Map<string, number[]>(Object.keys(tools).map((k) => [k, []]));
    const trips = new Map<string, number>();
    for (let r = 0; r < runs; r++) {
      for (const [name, go] of Object.entries(tools)) {
        const before = proxy.roundTrips;
        const t = performance.now();
        await go();
        times.get(name)!.push(performance.now() - t);
        trips.set(name, proxy.roundTrips - before);
      }
    }
    // A no-op that did something would not be a no-op: both still have exactly n applied.
    const [k] = await query<{ n: number }>(withDb(server.url, keelDb), "SELECT count(*)::int AS n FROM pgkeel.migrations");
    const [m] = await query<{ n: number }>(withDb(server.url, npmDb), "SELECT count(*)::int AS n FROM pgmigrations");
    if (k!.n !== n || m!.n !== n) throw new Error(`expected ${n} applied migrations, pgkeel has ${k!.n}, node-pg-migrate ${m!.n}`);
    const npmMs = median(times.get("node-pg-migrate up")!);
    return [...times].map(([name, ts]) => {
      const med = median(ts);
      const line = `| ${server.label} | ${name} | ${(med / 1000).toFixed(2)} s | ${name === "node -e 0" ? "" : trips.get(name)} | ${(med / npmMs).toFixed(2)}x |`;
      process.stderr.write(`${line}  (runs: ${ts.map((x) => x.toFixed(0)).join(", ")} ms)\n`);
      return line;
    });
  } finally {
    await proxy.stop();
    await server.shutdown();
  }
}

async function main() {
  const cwd = project();
  const rows: string[] = [];
  try {
    for (const kind of serverKinds(arg("server", "embedded,stock"))) rows.push(...(await onServer(kind, cwd)));
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
  console.log(
    [
      `No-op with ${n} applied migrations (three statements each); median of ${runs} run(s), the tools taking turns; Node ${process.version}.`,
      "",
      "| server | tool | time | round trips | vs node-pg-migrate |",
      "| --- | --- | --- | --- | --- |",
      ...rows,
    ].join("\n"),
  );
}

await main();
