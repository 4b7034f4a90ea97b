/**
 * Backfill throughput: pgkeel with 1, 2 and 4 workers against one single UPDATE
 * of all rows, on the same 1,000,000-row table (a fresh copy per run), same
 * machine, same run.
 *
 *   npm run bench:backfill                 # 1,000,000 rows, 3 runs each, workers 1, 2, 4
 *   npm run bench:backfill -- --rows 200000 --runs 1 --workers 1,2
 *   npm run bench:backfill -- --url postgres://postgres@127.0.0.1:5432/postgres --header "batch=5000 max=50000"
 *   npm run bench:backfill -- --server stock  # PostgreSQL's default settings (fsync on)
 *
 * Every timed run starts on a fresh copy of the table, after a CHECKPOINT.
 * Reports rows/s, the longest batch (a batch is one transaction; measured by the
 * client, so it includes the round trip) and pgkeel's peak RSS.
 * Uses --url, else DATABASE_URL, else starts a server: `--server embedded` (default;
 * fsync off, as in the tests) or `--server stock` (the same binaries with
 * PostgreSQL's default settings, fsync on; see bench/servers.ts).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { startServer } from "./servers.js";
import { arg } from "./args.js";

const run = promisify(execFile);
const rows = Number(arg("rows", "1000000"));
const runs = Number(arg("runs", "3"));
const workerCounts = arg("workers", "1,2,4").split(",").map(Number);
const header = arg("header", "batch=5000 max=50000");

async function sql(url: string, text: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const t = performance.now();
  await c.query(text);
  const ms = performance.now() - t;
  await c.end();
  return ms;
}

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};
/** A run that left rows unfilled must not count as fast. */
async function expectFilled(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows: r } = await c.query("SELECT count(*)::int AS n FROM leads WHERE name_normalized IS NULL");
  await c.end();
  if (r[0].n !== 0) throw new Error(`${r[0].n} rows left unfilled`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const given = arg("url", "") || process.env.DATABASE_URL;
  const server = given ? undefined : await startServer(arg("server", "embedded"));
  const base = given || server!.url;
  const admin = withDb(base, "postgres");
  const template = `bf_bench_${process.pid}`;
  await sql(admin, `CREATE DATABASE ${template}`);
  await sql(
    withDb(base, template),
    `CREATE TABLE leads (id bigint PRIMARY KEY, name text NOT NULL, name_normalized text);
     INSERT INTO leads (id, name) SELECT g, 'Lead Name ' || g FROM generate_series(1, ${rows}) g;`,
  );
  await sql(withDb(base, template), "VACUUM ANALYZE leads");
  const cwd = mkdtempSync(join(tmpdir(), "pgkeel-bfbench-"));
  mkdirSync(join(cwd, "db/backfills"), { recursive: true });
  writeFileSync(
    join(cwd, "db/backfills/001_name_normalized.sql"),
    `-- pgkeel:backfill table=leads key=id ${header}\nUPDATE leads SET name_normalized = lower(name)\n WHERE id BETWEEN :from AND :to AND name_normalized IS NULL;\n`,
  );
  const single: number[] = [];
  type KeelRun = { ms: number; longestBatchMs: number; batches: number; peakRssMb: number };
  const keel = new Map<number, KeelRun[]>(workerCounts.map((w) => [w, []]));
  let copy = 0;
  // Each timed run starts from a checkpoint: otherwise the run after the single UPDATE pays
  // for writing out the UPDATE's dirty pages and WAL (the copy's too), and the order decides.
  // A measured copy is dropped at once: left behind, its million dead rows keep autovacuum
  // busy on the same cores while the next runs are timed.
  const dropCopy = (url: string) => sql(admin, `DROP DATABASE ${new URL(url).pathname.slice(1)}`);
  const fresh = async () => {
    const db = `${template}_${copy++}`;
    await sql(admin, `CREATE DATABASE ${db} TEMPLATE ${template}`);
    await sql(admin, "CHECKPOINT");
    return withDb(base, db);
  };
  try {
    for (let r = 0; r < runs; r++) {
      const a = await fresh();
      single.push(await sql(a, "UPDATE leads SET name_normalized = lower(name) WHERE name_normalized IS NULL"));
      await expectFilled(a);
      await dropCopy(a);
      const line = [`run ${r + 1}: single ${single.at(-1)!.toFixed(0)} ms`];
      for (const w of workerCounts) {
        const b = await fresh();
        const { stdout } = await run(process.execPath, [resolve(import.meta.dirname, "backfill-runner.mjs"), b, cwd, String(w)]);
        keel.get(w)!.push(JSON.parse(stdout));
        await expectFilled(b);
        await dropCopy(b);
        line.push(`${w} worker(s) ${keel.get(w)!.at(-1)!.ms.toFixed(0)} ms`);
      }
      process.stderr.write(`${line.join(", ")}\n`);
    }
  } finally {
    await server?.shutdown();
  }
  const singleMs = median(single);
  const lines = [
    `Rows: ${rows}; median of ${runs} run(s); each run on a fresh copy of the table; header \`${header}\`; Node ${process.version}; ${server ? server.label : "server given by URL"}.`,
    "",
    "| tool | time | rows/s | vs single UPDATE | longest transaction | batches | peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    `| single UPDATE | ${(singleMs / 1000).toFixed(2)} s | ${Math.round(rows / (singleMs / 1000))} | 100% | ${(singleMs / 1000).toFixed(2)} s (the whole update) | 1 | n/a |`,
    ...workerCounts.map((w) => {
      const k = keel.get(w)!;
      const ms = median(k.map((x) => x.ms));
      return `| pgkeel backfill, ${w} worker${w === 1 ? "" : "s"} | ${(ms / 1000).toFixed(2)} s | ${Math.round(rows / (ms / 1000))} | ${((100 * singleMs) / ms).toFixed(0)}% | ${Math.max(...k.map((x) => x.longestBatchMs))} ms | ${median(k.map((x) => x.batches))} | ${Math.max(...k.map((x) => x.peakRssMb)).toFixed(0)} MB |`;
    }),
  ];
  console.log(lines.join("\n"));
}

await main();
