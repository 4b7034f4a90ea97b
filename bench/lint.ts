/**
 * `pgkeel lint` over 500 files of two generated histories (bench/histories.ts):
 * without a database, and with one (the first 450 applied, the last 50 pending),
 * and `plan`'s start-up with nothing pending.
 *
 *   npm run bench:lint            # 3 runs each, median
 *   npm run bench:lint -- --n 500 --runs 5
 *
 * Uses DATABASE_URL when set, else starts an embedded PostgreSQL.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { startEmbedded } from "../tests/support/servers.js";
import { handwrittenHistory, prismaHistory, type HistoryFile } from "./histories.js";
import { arg } from "./args.js";

/** The CLI without a DATABASE_URL: an empty one is refused (it would name no database). */
const { DATABASE_URL: _unused, ...noUrl } = process.env;
const n = Number(arg("n", "500"));
const runs = Number(arg("runs", "3"));
const cli = resolve(import.meta.dirname, "../dist/cli/main.js");
const run = promisify(execFile);

function project(files: readonly HistoryFile[]): string {
  const dir = mkdtempSync(join(tmpdir(), "pgkeel-lint-bench-"));
  mkdirSync(join(dir, "db/migrations"), { recursive: true });
  for (const f of files) writeFileSync(join(dir, "db/migrations", `${f.name}.sql`), f.sql);
  return dir;
}

async function timed(argv: string[], cwd: string): Promise<{ ms: number; stdout: string }> {
  const times: number[] = [];
  let stdout = "";
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = await run(process.execPath, [...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(" ") : []), cli, ...argv], { cwd, env: noUrl, maxBuffer: 1 << 28 }).catch((e: { stdout: string; code: number }) => {
      if (e.code !== 6) throw e;
      return e;
    });
    times.push(performance.now() - t);
    stdout = r.stdout;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, stdout };
}

async function database(base: URL, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: base.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name}`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

async function main() {
  const server = process.env.DATABASE_URL ? undefined : await startEmbedded();
  const base = new URL(process.env.DATABASE_URL || server!.url);
  const rows: string[] = [];
  try {
    for (const [label, files] of [["Prisma-style", prismaHistory(n)], ["hand-written", handwrittenHistory(n)]] as const) {
      const dir = project(files);
      const offline = await timed(["lint", "--format", "json"], dir);
      const found = (JSON.parse(offline.stdout) as { findings: unknown[] }).findings.length;
      rows.push(`| ${label} | ${n} files, no database | ${(offline.ms / 1000).toFixed(2)} s | ${found} |`);

      // With a database: the first n - 50 applied, the last 50 pending. The tables are empty; their
      // statistics say 100,000 rows (as production's would), which pgkeel trusts above safety.minRows.
      const url = await database(base, `lint_bench_${label === "Prisma-style" ? "prisma" : "hand"}`);
      const applied = project(files.slice(0, n - 50));
      await run(process.execPath, [cli, "migrate", "--quiet", "--allow-unsafe", "--url", url], { cwd: applied, env: noUrl, maxBuffer: 1 << 28 });
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query("UPDATE pg_class SET reltuples = 100000, relpages = 1000 WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace");
      await c.end();
      const pending = await timed(["lint", "--format", "json", "--url", url], dir);
      const pendingFound = (JSON.parse(pending.stdout) as { findings: unknown[] }).findings.length;
      rows.push(`| ${label} | last 50 pending, with the database | ${(pending.ms / 1000).toFixed(2)} s | ${pendingFound} |`);
      const all = await timed(["lint", "--format", "json", "--url", url, "db/migrations"], dir);
      rows.push(`| ${label} | all ${n} files named, with the database | ${(all.ms / 1000).toFixed(2)} s | ${(JSON.parse(all.stdout) as { findings: unknown[] }).findings.length} |`);

      // plan's start-up: nothing pending.
      await run(process.execPath, [cli, "migrate", "--quiet", "--allow-unsafe", "--url", url], { cwd: dir, env: noUrl, maxBuffer: 1 << 28 });
      const plan = await timed(["plan", "--url", url], dir);
      rows.push(`| ${label} | plan, nothing pending | ${(plan.ms / 1000).toFixed(2)} s | |`);
      rmSync(dir, { recursive: true, force: true });
      rmSync(applied, { recursive: true, force: true });
    }
    const version = await timed(["--version"], tmpdir());
    rows.push(`| | pgkeel --version (process start-up) | ${(version.ms / 1000).toFixed(2)} s | |`);
  } finally {
    await server?.shutdown();
  }
  process.stdout.write(
    [`Machine: ${(await import("node:os")).cpus().length} cores, Node ${process.version}; median of ${runs} run(s); each run is its own process.`, "", "| history | what | time | findings |", "| --- | --- | --- | --- |", ...rows, ""].join("\n"),
  );
}

await main();
