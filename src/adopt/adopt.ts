import { DriftError } from "../errors.js";
import type { PhaseContext } from "../phases/context.js";
import type { Migration } from "../phases/migrate/migration.js";
import { recordAsApplied } from "../phases/migrate/record.js";
import { match, type Mapping } from "./match.js";
import { reader } from "./tools.js";

export interface AdoptOptions {
  /** node-pg-migrate, prisma, flyway, knex, dbmate or golang-migrate. */
  readonly from: string;
  /** The tool's table, `[schema.]name`, when not its default on the search path. */
  readonly table?: string;
  /** Show the mapping; record nothing. */
  readonly dryRun?: boolean;
  /** Record the matched ones even though some of the tool's migrations match no file. */
  readonly allowUnmatched?: boolean;
}

export interface AdoptResult extends Mapping {
  readonly tool: string;
  readonly table: string;
  readonly dryRun: boolean;
  /** Recorded as applied in pgkeel by this call. */
  readonly recorded: readonly string[];
  /** Matched, but pgkeel had recorded them already. */
  readonly already: readonly string[];
}

/**
 * Imports another tool's applied migrations: reads its tracking table, matches
 * its rows to the project's files (see `match`), and records the matched ones
 * as applied in pgkeel, with their checksums, in one transaction. A migration
 * the tool applied that matches no file refuses the import (exit 4, as a
 * missing file does for migrate): a renamed file would otherwise run again.
 */
export async function adopt(c: PhaseContext, files: readonly Migration[], opts: AdoptOptions): Promise<AdoptResult> {
  const r = reader(opts.from);
  const table = opts.table ?? r.table;
  const mapping = match(await r.read(c.gw, table), files, r);
  const base = { ...mapping, tool: opts.from, table, dryRun: !!opts.dryRun };
  if (opts.dryRun) return { ...base, recorded: [], already: [] };
  if (mapping.unmatched.length && !opts.allowUnmatched) {
    throw new DriftError(
      `adopt --from ${opts.from}: ${mapping.unmatched.length} applied migration(s) match no file: ${mapping.unmatched.map((u) => `${u.entry} (${u.reason})`).join("; ")}. Nothing recorded. Rename the files to match, or --allow-unmatched to record the matched ones (--dry-run shows the mapping)`,
    );
  }
  const byName = new Map(files.map((f) => [f.name, f]));
  const rec = await recordAsApplied(c, mapping.matched.map((m) => byName.get(m.migration)!), `adopted from ${opts.from}`);
  return { ...base, ...rec };
}
