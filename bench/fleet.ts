/**
 * Fleet throughput: the example project (examples/leads: migrations, indexes, a
 * backfill) over N databases on one server with `pgkeel run --fleet` at
 * concurrency 1, 4 and 16, against a shell loop calling `pgkeel run` once per
 * database; and over N tenant schemas of one database. Every run starts from
 * empty databases (schemas dropped and made again). While a run goes, the
 * server's connections are sampled from pg_stat_activity: pgkeel's (by
 * application_name) and all of them.
 *
 *   npm run bench:fleet                   # 200 databases, 200 schemas
 *   npm run bench:fleet -- --members 50
 *   npm run bench:fleet -- --loop-sample 40   # time the shell loop on 40 databases, scaled to all
 *
 * Uses DATABASE_URL (a server where it may create databases) when set, else an embedded PostgreSQL.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { startEmbedded } from "../tests/support/servers.js";
import { arg } from "./args.js";

const run = promisify(execFile);
const members = Number(arg("members", "200"));
const perHost = Number(arg("per-host", "32"));
// The loop's cost is one process per database, one after another: linear in the databases,
// so on a busy machine it may be timed on the first N and scaled.
const loopSample = Math.min(members, Number(arg("loop-sample", String(members))));
const cli = resolve(import.meta.dirname, "../dist/cli/main.js");
const example = resolve(import.meta.dirname, "../examples/leads");

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** Samples connections until stopped: the peak of pgkeel's and of all client backends. */
function sampler(admin: string) {
  let done = false;
  let pgkeel = 0;
  let all = 0;
  const loop = (async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    while (!done) {
      const { rows } = await c.query(
        "SELECT count(*) FILTER (WHERE application_name LIKE 'pgkeel:%')::int AS k, count(*) FILTER (WHERE backend_type = 'client backend')::int - 1 AS a FROM pg_stat_activity",
      );
      pgkeel = Math.max(pgkeel, rows[0].k);
      all = Math.max(all, rows[0].a);
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.end();
  })();
  return async () => {
    done = true;
    await loop;
    return { pgkeel, all };
  };
}

/** Empties every member: its tables and pgkeel's state gone, ready for a fresh run. */
async function reset(urls: string[], schemaDb?: { url: string; tenants: string[] }): Promise<void> {
  for (let i = 0; i < urls.length; i += 16) {
    await Promise.all(urls.slice(i, i + 16).map((u) => sql(u, "DROP SCHEMA IF EXISTS pgkeel CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public")));
  }
  if (schemaDb) await sql(schemaDb.url, schemaDb.tenants.map((t) => `DROP SCHEMA IF EXISTS ${t} CASCADE; DROP SCHEMA IF EXISTS pgkeel_${t} CASCADE; CREATE SCHEMA ${t}`).join(";"));
}

/** Every member took all of the example's work: its rows all have their domain. */
async function check(url: string, schema = "public"): Promise<void> {
  const { rows } = await sql(url, `SELECT count(*) FILTER (WHERE email_domain IS NULL)::int AS left, count(*)::int AS n FROM ${schema}.leads`);
  if (rows[0].n !== 2000 || rows[0].left !== 0) throw new Error(`${url} ${schema}: ${rows[0].n} rows, ${rows[0].left} without a domain`);
}

async function timed(admin: string, f: () => Promise<unknown>): Promise<{ s: number; peak: { pgkeel: number; all: number } }> {
  const stop = sampler(admin);
  const t = performance.now();
  await f();
  const s = (performance.now() - t) / 1000;
  return { s, peak: await stop() };
}

async function main() {
  const server = process.env.DATABASE_URL ? undefined : await startEmbedded();
  try {
    const base = process.env.DATABASE_URL || server!.url;
    const admin = withDb(base, "postgres");
    const names = Array.from({ length: members }, (_, i) => `fleet_bench_${i}`);
    for (const n of [...names, "fleet_bench_schemas"]) await sql(admin, `DROP DATABASE IF EXISTS ${n}`);
    for (const n of [...names, "fleet_bench_schemas"]) await sql(admin, `CREATE DATABASE ${n}`);
    const urls = names.map((n) => withDb(base, n));
    const tenants = Array.from({ length: members }, (_, i) => `tenant_${i}`);
    const schemaDb = { url: withDb(base, "fleet_bench_schemas"), tenants };

    const dir = mkdtempSync(join(tmpdir(), "pgkeel-fleet-bench-"));
    cpSync(join(example, "db"), join(dir, "db"), { recursive: true });
    writeFileSync(join(dir, "tenants.txt"), `${urls.join("\n")}\n`);
    writeFileSync(
      join(dir, "pgkeel.config.json"),
      JSON.stringify({ fleets: { dbs: { urlsFile: "tenants.txt", canary: 1, perHost }, schemas: { schemas: { url: schemaDb.url, list: tenants }, canary: 1, perHost } } }),
    );
    writeFileSync(join(dir, "loop.txt"), `${urls.slice(0, loopSample).join("\n")}\n`);
    writeFileSync(join(dir, "loop.sh"), `while read -r url; do node ${cli} run --quiet --url "$url" || exit 1; done < loop.txt\n`);

    const rows: string[] = [];
    let loopS = 0;
    const record = (what: string, conc: string, r: { s: number; peak: { pgkeel: number; all: number } }) => {
      rows.push(`| ${what} | ${conc} | ${r.s.toFixed(1)} s | ${(r.s / members * 1000).toFixed(0)} ms | ${loopS ? `${(loopS / r.s).toFixed(1)}x` : "1.0x"} | ${r.peak.pgkeel} | ${r.peak.all} |`);
      console.error(rows.at(-1));
    };

    await reset(urls, schemaDb);
    const measured = await timed(admin, () => run("bash", [join(dir, "loop.sh")], { cwd: dir, maxBuffer: 1 << 26 }));
    for (const u of urls.slice(0, loopSample)) await check(u);
    const loop = { ...measured, s: (measured.s * members) / loopSample };
    loopS = loop.s;
    record(`shell loop: \`pgkeel run --url\` per database${loopSample < members ? ` (timed on ${loopSample}, ${measured.s.toFixed(1)} s, scaled to ${members})` : ""}`, "1", loop);

    for (const c of [1, 4, 16]) {
      await reset(urls);
      const r = await timed(admin, () => run("node", [cli, "run", "--fleet", "dbs", "--concurrency", String(c), "--quiet"], { cwd: dir, maxBuffer: 1 << 26 }));
      for (const u of urls) await check(u);
      record(`\`pgkeel run --fleet\`, ${members} databases`, String(c), r);
    }
    for (const c of [4, 16]) {
      await reset([], schemaDb);
      const r = await timed(admin, () => run("node", [cli, "run", "--fleet", "schemas", "--concurrency", String(c), "--quiet"], { cwd: dir, maxBuffer: 1 << 26 }));
      for (const t of tenants) await check(schemaDb.url, t);
      record(`\`pgkeel run --fleet\`, ${members} schemas of one database`, String(c), r);
    }

    const { rows: v } = await sql(admin, "SHOW server_version");
    console.log(`Machine: ${(await import("node:os")).cpus().length} cores, Node ${process.version}, PostgreSQL ${v[0].server_version}${server ? " (embedded, fsync off)" : ""}; ${members} members; per-host cap ${perHost} connections.\n`);
    console.log("| work | concurrency | wall time | per member | vs shell loop | peak pgkeel connections | peak connections (all clients) |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const r of rows) console.log(r);
    for (const n of [...names, "fleet_bench_schemas"]) await sql(admin, `DROP DATABASE IF EXISTS ${n}`);
  } finally {
    await server?.shutdown();
  }
}

await main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
