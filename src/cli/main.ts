#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { UsageError } from "../gateway/errors.js";
import { secretsOf } from "../gateway/redact.js";
import { createKeel, type Keel, type KeelOptions } from "../keel.js";
import { loadConfig } from "../config/config.js";
import { createFile } from "./create.js";
import { Output } from "./output.js";

interface GlobalFlags {
  url?: string;
  via?: string;
  config?: string;
  cwd?: string;
  migrationsDir?: string;
  indexesDir?: string;
  backfillsDir?: string;
  json?: boolean;
  quiet?: boolean;
  maxRetries?: number;
  retryCap?: number;
}

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} needs a whole number of at least 1, got "${v}"`);
  return n;
};

/**
 * Runs one command with the keel, printing through Output, and returns the exit status.
 * `eventsToStdout`: with --json, commands that print a result object keep stdout for it.
 */
async function withKeel(flags: GlobalFlags, eventsToStdout: boolean, body: (keel: Keel, out: Output) => Promise<void>): Promise<number> {
  const out = new Output({ json: !!flags.json, quiet: !!flags.quiet, eventsToStdout });
  out.secrets = [...secretsOf(flags.url), ...secretsOf(process.env.DATABASE_URL)];
  const cwd = resolve(flags.cwd ?? process.cwd());
  // Secrets of the config's URLs are known before anything can print them.
  try {
    const { config } = await loadConfig(cwd, flags.config);
    out.secrets.push(...secretsOf(config.url), ...Object.values(config.urls ?? {}).flatMap((u) => secretsOf(u)));
  } catch {
    // The keel reports a bad config itself.
  }
  const options: KeelOptions = {
    cwd,
    url: flags.url,
    via: flags.via,
    config: flags.config,
    migrationsDir: flags.migrationsDir,
    indexesDir: flags.indexesDir,
    backfillsDir: flags.backfillsDir,
    maxRetries: flags.maxRetries,
    retryCapMs: flags.retryCap,
    onEvent: (e) => out.event(e),
  };
  const keel = createKeel(options);
  try {
    await body(keel, out);
    return 0;
  } catch (e) {
    return out.failure(e);
  } finally {
    await keel.close().catch(() => {});
  }
}

export function program(setExit: (code: number) => void): Command {
  const cli = new Command("pgkeel")
    .description("PostgreSQL schema changes that finish: migrations, concurrent index builds and batched backfills")
    .version(version)
    .option("--url <url>", "database URL (else --via, DATABASE_URL, the config's url, else embedded PGlite)")
    .option("--via <name>", "use the config's urls.<name>")
    .option("--config <file>", "config file (default pgkeel.config.{ts,mjs,js,json})")
    .option("--cwd <dir>", "project folder (default: current directory)")
    .option("--migrations-dir <dir>", "migrations folder (default db/migrations)")
    .option("--indexes-dir <dir>", "indexes folder (default db/indexes)")
    .option("--backfills-dir <dir>", "backfills folder (default db/backfills)")
    .option("--json", "machine-readable output: one JSON event per line")
    .option("--quiet", "print only results, retries, warnings and errors")
    .addOption(new Option("--max-retries <n>", "attempts per unit before giving up (default 10)").argParser(positiveInt("--max-retries")))
    .addOption(new Option("--retry-cap <ms>", "longest wait between attempts in ms (default 8000)").argParser(positiveInt("--retry-cap")))
    .showHelpAfterError()
    .exitOverride();

  const flags = () => cli.opts<GlobalFlags>();
  const drift = (c: Command) =>
    c
      .option("--allow-changed", "apply even though an applied migration's file changed")
      .option("--allow-missing", "apply even though an applied migration's file is gone")
      .option("--allow-out-of-order", "apply new migrations that sort before the last applied one");
  const driftFlags = (o: { allowChanged?: boolean; allowMissing?: boolean; allowOutOfOrder?: boolean }) => ({
    allowChanged: o.allowChanged,
    allowMissing: o.allowMissing,
    allowOutOfOrder: o.allowOutOfOrder,
  });

  drift(cli.command("migrate").description("apply pending migrations")).action(async (o) => {
    setExit(
      await withKeel(flags(), true, async (keel, out) => {
        const r = await keel.migrate(driftFlags(o));
        if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
        else out.log(`migrate: done (${r.applied.length} applied${r.skipped.length ? `, ${r.skipped.length} applied by other runners` : ""})`);
      }),
    );
  });

  cli
    .command("indexes")
    .description("build declared indexes that are missing or invalid, always concurrently")
    .option("--rebuild-changed", "rebuild indexes whose definition changed: build the new one beside it, then swap")
    .action(async (o: { rebuildChanged?: boolean }) => {
      setExit(
        await withKeel(flags(), true, async (keel, out) => {
          const r = await keel.indexes({ rebuildChanged: o.rebuildChanged });
          if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
          else out.log(`indexes: done (${r.built.length} built${r.skipped.length ? `, ${r.skipped.length} built by other runners` : ""}${r.changed.length ? `, ${r.changed.length} changed and left alone` : ""})`);
        }),
      );
    });

  cli
    .command("backfill")
    .description("run unfinished backfills in keyset batches, each batch applied exactly once")
    .action(async () => {
      setExit(
        await withKeel(flags(), true, async (keel, out) => {
          const r = await keel.backfill();
          if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
          else out.log(`backfill: done (${r.done.length} finished${r.skipped.length ? `, ${r.skipped.length} by other runners` : ""})`);
        }),
      );
    });

  drift(cli.command("run").description("run the phases in order: migrate, indexes, backfill"))
    .option("--rebuild-changed", "rebuild indexes whose definition changed")
    .action(async (o) => {
      setExit(
        await withKeel(flags(), true, async (keel, out) => {
          const r = await keel.run({ ...driftFlags(o), rebuildChanged: o.rebuildChanged });
          if (flags().json) out.result(JSON.stringify({ type: "result", ...r }));
          else out.log(`run: done (${r.migrate.applied.length} migrations applied, ${r.indexes.built.length} indexes built, ${r.backfill.done.length} backfills finished)`);
        }),
      );
    });

  cli
    .command("status")
    .description("every migration, index and backfill with its state")
    .option("--json", "print one JSON object")
    .action(async (o: { json?: boolean }) => {
      const json = o.json || flags().json;
      setExit(
        await withKeel({ ...flags(), json }, false, async (keel, out) => {
          const s = await keel.status();
          if (json) return out.result(JSON.stringify(s));
          for (const m of s.migrations) out.result(`migration  ${m.state.padEnd(8)} ${m.name}${m.outOfOrder ? "  (out of order)" : ""}`);
          for (const i of s.indexes) out.result(`index      ${i.state.padEnd(8)} ${i.name} on ${i.table}`);
          for (const b of s.backfills) out.result(`backfill   ${b.state.padEnd(8)} ${b.name} (${b.rows} rows)`);
          if (!s.migrations.length && !s.indexes.length && !s.backfills.length) out.result("nothing declared");
        }),
      );
    });

  cli
    .command("plan")
    .description("what run would do, statement by statement, with locks and warnings")
    .action(async () => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const plan = await keel.plan();
          if (flags().json) return out.result(JSON.stringify({ statements: plan }));
          if (!plan.length) out.result("nothing to do");
          let current = "";
          for (const p of plan) {
            if (p.migration !== current) {
              current = p.migration;
              out.result(`${p.file}${p.transactional ? "" : "  (no transaction: statement by statement)"}`);
            }
            out.result(`  line ${p.line}: ${p.kind}, lock ${p.lock}`);
            for (const w of p.warnings) out.result(`    warning: ${w}`);
          }
        }),
      );
    });

  cli
    .command("create <name>")
    .description("a new, timestamp-named migration file (or index / backfill file)")
    .option("--index", "an index file in the indexes folder")
    .option("--backfill", "a backfill file in the backfills folder")
    .action(async (name: string, o: { index?: boolean; backfill?: boolean }) => {
      const f = flags();
      const out = new Output({ json: !!f.json, quiet: !!f.quiet, eventsToStdout: false });
      try {
        if (o.index && o.backfill) throw new UsageError("create: --index and --backfill cannot be used together");
        const cwd = resolve(f.cwd ?? process.cwd());
        const { config } = await loadConfig(cwd, f.config);
        const kind = o.index ? "index" : o.backfill ? "backfill" : "migration";
        const dir =
          kind === "index"
            ? (f.indexesDir ?? config.indexesDir ?? "db/indexes")
            : kind === "backfill"
              ? (f.backfillsDir ?? config.backfillsDir ?? "db/backfills")
              : (f.migrationsDir ?? config.migrationsDir ?? "db/migrations");
        out.result(createFile(cwd, dir, name, kind));
        setExit(0);
      } catch (e) {
        setExit(out.failure(e));
      }
    });

  cli
    .command("doctor")
    .description("server version, TLS, pooler mode, round-trip time, privileges")
    .option("--json", "print one JSON object")
    .action(async (o: { json?: boolean }) => {
      const json = o.json || flags().json;
      setExit(
        await withKeel({ ...flags(), json }, false, async (keel, out) => {
          const target = await keel.target();
          const d = await keel.doctor();
          if (json) return out.result(JSON.stringify({ target: target.display, ...d }));
          out.result(`target:          ${target.display}`);
          out.result(`server version:  ${d.serverVersion}`);
          out.result(`tls:             ${d.tls ? "yes" : "no"}`);
          out.result(`pooler:          ${d.pooler}${d.pooler === "transaction" ? " (pgkeel uses no session state here)" : ""}`);
          out.result(`round trip:      ${d.rttMs} ms`);
          out.result(`role, database:  ${d.user}, ${d.database}`);
          out.result(`can create in ${d.schema}: ${d.canCreate ? "yes" : "NO"}${d.schemaExists ? "" : " (schema not created yet)"}`);
        }),
      );
    });

  return cli;
}

async function main(): Promise<void> {
  let code = 0;
  const cli = program((c) => (code = c));
  try {
    await cli.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; anything else commander rejects is usage (2).
      code = e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    } else if (e instanceof UsageError) {
      process.stderr.write(`pgkeel: ${e.message}\n`);
      code = 2;
    } else throw e;
  }
  process.exitCode = code;
}

await main();
