/**
 * Backfill throughput: pgkeel against one single UPDATE of all rows, on the same
 * 1,000,000-row table (a fresh copy per run), same machine, same run.
 *
 *   npm run bench:backfill                 # 1,000,000 rows, 3 runs each
 *   npm run bench:backfill -- --rows 200000 --runs 1
 *
 * Reports rows/s, the longest batch (a batch is one transaction; measured by the
 * client, so it includes the round trip) and pgkeel's peak RSS.
 * Uses DATABASE_URL when set, else starts an embedded PostgreSQL.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { startEmbedded } from "../tests/support/servers.js";

const run = promisify(execFile);
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const rows = Number(arg("rows", "1000000"));
const runs = Number(arg("runs", "3"));

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
  const server = process.env.DATABASE_URL ? undefined : await startEmbedded();
  const base = process.env.DATABASE_URL || server!.url;
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
    "-- pgkeel:backfill table=leads key=id batch=5000\nUPDATE leads SET name_normalized = lower(name)\n WHERE id BETWEEN :from AND :to AND name_normalized IS NULL;\n",
  );
  const single: number[] = [];
  const keel: { ms: number; longestBatchMs: number; batches: number; peakRssMb: number }[] = [];
  let copy = 0;
  const fresh = async () => {
    const db = `${template}_${copy++}`;
    await sql(admin, `CREATE DATABASE ${db} TEMPLATE ${template}`);
    return withDb(base, db);
  };
  try {
    for (let r = 0; r < runs; r++) {
      const a = await fresh();
      single.push(await sql(a, "UPDATE leads SET name_normalized = lower(name) WHERE name_normalized IS NULL"));
      await expectFilled(a);
      const b = await fresh();
      const { stdout } = await run(process.execPath, [resolve(import.meta.dirname, "backfill-runner.mjs"), b, cwd]);
      keel.push(JSON.parse(stdout));
      await expectFilled(b);
      process.stderr.write(`run ${r + 1}: single ${single.at(-1)!.toFixed(0)} ms, pgkeel ${keel.at(-1)!.ms.toFixed(0)} ms\n`);
    }
  } finally {
    await server?.shutdown();
  }
  const singleMs = median(single);
  const keelMs = median(keel.map((k) => k.ms));
  const lines = [
    `Rows: ${rows}; median of ${runs} run(s); each run on a fresh copy of the table; Node ${process.version}.`,
    "",
    "| tool | time | rows/s | longest transaction | batches | peak RSS |",
    "| --- | --- | --- | --- | --- | --- |",
    `| single UPDATE | ${(singleMs / 1000).toFixed(2)} s | ${Math.round(rows / (singleMs / 1000))} | ${(singleMs / 1000).toFixed(2)} s (the whole update) | 1 | n/a |`,
    `| pgkeel backfill | ${(keelMs / 1000).toFixed(2)} s | ${Math.round(rows / (keelMs / 1000))} | ${Math.max(...keel.map((k) => k.longestBatchMs))} ms | ${median(keel.map((k) => k.batches))} | ${Math.max(...keel.map((k) => k.peakRssMb)).toFixed(0)} MB |`,
    "",
    `pgkeel throughput: ${((100 * singleMs) / keelMs).toFixed(0)}% of the single UPDATE's.`,
  ];
  console.log(lines.join("\n"));
}

await main();
