import { UsageError } from "../../errors.js";
import type { PhaseContext } from "../context.js";
import type { Migration } from "./migration.js";
import { recordAsApplied, type Recorded } from "./record.js";

export interface BaselineOptions {
  /** Record migrations up to and including this one (default: every file present). */
  readonly to?: string;
}

export interface BaselineResult extends Recorded {
  /** Without `to`, a database where pgkeel already recorded migrations is left alone. */
  readonly hadHistory: boolean;
}

/**
 * Records migrations as applied without running them, on a database whose
 * schema already has them. Idempotent, so it can run on every start:
 * - with `to`: records the files up to `to` not yet recorded; refuses (exit 2)
 *   when it would record one while pgkeel already applied a migration past `to`
 *   (that one was never run here, and faking it would hide the gap);
 * - without `to`: records every file, but only on a database where pgkeel has
 *   recorded nothing yet (as Flyway's baseline-on-migrate): run on every start,
 *   it must never mark a newly added migration applied without running it.
 */
export async function baseline(c: PhaseContext, files: readonly Migration[], opts: BaselineOptions = {}): Promise<BaselineResult> {
  const to = opts.to;
  if (to !== undefined && !files.some((f) => f.name === to)) {
    throw new UsageError(`baseline --to ${to}: no migration file has that name (names are file names without extension${files.length ? `; the last is ${files.at(-1)!.name}` : "; there are no migration files"})`);
  }
  const upTo = to === undefined ? files : files.filter((f) => Buffer.compare(Buffer.from(f.name), Buffer.from(to)) <= 0);
  let hadHistory = false;
  const r = await recordAsApplied(c, upTo, "baseline", (applied) => {
    if (to === undefined) {
      hadHistory = applied.size > 0;
      if (hadHistory) throw new NothingToDo();
      return;
    }
    const past = [...applied].filter((n) => Buffer.compare(Buffer.from(n), Buffer.from(to)) > 0).sort();
    const missing = upTo.filter((f) => !applied.has(f.name)).map((f) => f.name);
    if (past.length && missing.length) {
      throw new UsageError(
        `baseline --to ${to}: pgkeel already applied ${past.join(", ")}, past ${to}, so ${missing.join(", ")} ${missing.length === 1 ? "was" : "were"} skipped here, not applied; nothing recorded. Apply ${missing.length === 1 ? "it" : "them"} with migrate --allow-out-of-order, or record ${missing.length === 1 ? "it" : "them"} with a baseline --to an earlier name first`,
      );
    }
  }).catch((e) => {
    if (e instanceof NothingToDo) return { recorded: [], already: upTo.map((f) => f.name) };
    throw e;
  });
  return { ...r, hadHistory };
}

class NothingToDo extends Error {}
