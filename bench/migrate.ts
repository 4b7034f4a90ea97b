/**
 * Migration throughput: pgkeel vs psql vs the one-round-trip floor, on the same
 * generated migrations, on loopback and through a latency proxy.
 *
 *   npm run bench                 # N = 100 and 500, 0 and 10 ms, 3 runs each
 *   npm run bench -- --n 100 --latency 10 --runs 1 --server stock
 *
 * - pgkeel: the built CLI, `pgkeel migrate` (tracking rows included).
 * - psql: one session, each migration wrapped in BEGIN/COMMIT, statements sent one by one.
 * - floor: bench/floor.mjs, node-postgres sending each migration as one `BEGIN; ...; COMMIT` query, no tracking.
 * Every tool runs as its own process, so each pays for its start-up.
 * Each run gets a fresh database. Round trips are counted at the proxy.
 * Runs on each server of bench/servers.ts (embedded, fsync off; stock, fsync on),
 * or on DATABASE_URL alone when it is set.
 */
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { FaultProxy } from "../tests/support/proxy.js";
import { serverKinds, startServer } from "./servers.js";
import { arg } from "./args.js";

const sizes = arg("n", "100,500").split(",").map(Number);
const latencies = arg("latency", "0,10").split(",").map(Number);
const runs = Number(arg("runs", "3"));
const cli = resolve(import.meta.dirname, "../dist/cli/main.js");
// Async: the proxy runs in this process and must keep forwarding while a child runs.
const run = promisify(execFile);
const hasPsql = spawnSync("psql", ["--version"]).status === 0;

function migrations(n: number): string[][] {
  return Array.from({ length: n }, (_, i) => [
    `CREATE TABLE t${i} (id bigserial PRIMARY KEY, a text)`,
    `ALTER TABLE t${i} ADD COLUMN b integer`,
    `CREATE INDEX t${i}_b_idx ON t${i} (b)`,
  ]);
}

async function admin(url: string, sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(sql);
  await c.end();
}

const modes = {
  async pgkeel(url: string, m: string[][]) {
    const dir = mkdtempSync(join(tmpdir(), "pgkeel-bench-"));
    mkdirSync(join(dir, "db/migrations"), { recursive: true });
    m.forEach((stmts, i) => writeFileSync(join(dir, `db/migrations/${String(i).padStart(6, "0")}_m.sql`), `${stmts.join(";\n")};\n`));
    const t = performance.now();
    await run(process.execPath, [cli, "migrate", "--quiet", "--cwd", dir, "--url", url], { env: { ...process.env, DATABASE_URL: "" } });
    const ms = performance.now() - t;
    rmSync(dir, { recursive: true, force: true });
    return ms;
  },
  async psql(url: string, m: string[][]) {
    const file = join(mkdtempSync(join(tmpdir(), "pgkeel-bench-")), "all.sql");
    writeFileSync(file, m.map((stmts) => `BEGIN;\n${stmts.join(";\n")};\nCOMMIT;\n`).join(""));
    const t = performance.now();
    // No TLS negotiation, so the proxy can read (and count) the protocol.
    await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", `${url}?sslmode=disable`, "-f", file]);
    return performance.now() - t;
  },
  /** A separate process too, so every tool pays for its own start-up. */
  async floor(url: string, m: string[][]) {
    const file = join(mkdtempSync(join(tmpdir(), "pgkeel-bench-")), "migrations.json");
    writeFileSync(file, JSON.stringify(m));
    const t = performance.now();
    await run(process.execPath, [resolve(import.meta.dirname, "floor.mjs"), url, file]);
    return performance.now() - t;
  },
};

/** Every run must have applied every migration, so a wrong run cannot look fast. */
async function verify(url: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query("SELECT count(*)::int AS n FROM pg_class WHERE relname ~ '^t[0-9]+_b_idx$'");
  await c.end();
  if (rows[0].n !== n) throw new Error(`expected ${n} applied migrations, found ${rows[0].n}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let dbCounter = 0;

async function onServer(kind: string, rows: string[]): Promise<void> {
  const server = await startServer(kind);
  const base = new URL(server.url);
  const proxy = await new FaultProxy(base.hostname, Number(base.port || 5432)).start();
  try {
    for (const n of sizes) {
      const m = migrations(n);
      for (const latency of latencies) {
        proxy.latencyMs = latency;
        const floorTimes: number[] = [];
        for (const [name, apply] of Object.entries(modes)) {
          if (name === "psql" && !hasPsql) {
            rows.push(`| ${server.label} | ${n} | ${latency} | psql | not installed | | |`);
            continue;
          }
          const times: number[] = [];
          let trips = 0;
          for (let r = 0; r < runs; r++) {
            const db = `bench_${process.pid}_${dbCounter++}`;
            const adminUrl = new URL(base);
            adminUrl.pathname = "/postgres";
            await admin(adminUrl.toString(), `CREATE DATABASE ${db}`);
            const url = new URL(proxy.url(base.toString()));
            url.pathname = `/${db}`;
            const before = proxy.roundTrips;
            times.push(await apply(url.toString(), m));
            trips = proxy.roundTrips - before;
            await verify(url.toString(), n);
            await admin(adminUrl.toString(), `DROP DATABASE ${db}`);
          }
          const med = median(times);
          if (name === "floor") floorTimes.push(med);
          rows.push(`| ${server.label} | ${n} | ${latency} | ${name} | ${(med / 1000).toFixed(2)} s | ${(trips / n).toFixed(2)} | ${name === "floor" ? "1.00x" : "FLOOR"} |`);
          process.stderr.write(`${rows[rows.length - 1]}\n`);
        }
        // Ratios to the floor, filled in once the floor of this (n, latency) is known.
        const floor = floorTimes[0]!;
        for (let i = rows.length - 3; i < rows.length; i++) {
          const secs = Number(/\| ([\d.]+) s \|/.exec(rows[i]!)?.[1]);
          rows[i] = rows[i]!.replace("FLOOR", Number.isFinite(secs) ? `${((secs * 1000) / floor).toFixed(2)}x` : "");
        }
      }
    }
  } finally {
    await proxy.stop();
    await server.shutdown();
  }
}

async function main() {
  const rows: string[] = [];
  for (const kind of serverKinds(arg("server", "embedded,stock"))) await onServer(kind, rows);
  const header = [
    `Machine: ${spawnSync("nproc").stdout.toString().trim()} cores, Node ${process.version}; median of ${runs} run(s); fresh database per run.`,
    "Latency is added by the in-process proxy, half each way, to every chunk (so a round trip costs about that much more).",
    "",
    "| server | migrations | added latency (ms) | tool | time | round trips per migration | vs floor |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  console.log([...header, ...rows].join("\n"));
}

await main();
