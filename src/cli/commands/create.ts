import { resolve } from "node:path";
import { loadConfig } from "../../config/config.js";
import { UsageError } from "../../errors.js";
import { createFile } from "../create-file.js";
import { Output } from "../output.js";
import type { CommandHost } from "../with-keel.js";

/** `create NAME [--index|--backfill]`: a new file; needs no database. */
export function registerCreate({ cli, flags, setExit }: CommandHost): void {
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
}
