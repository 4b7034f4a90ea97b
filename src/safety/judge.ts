import { UnsafeError } from "../errors.js";
import type { EventSink } from "../events.js";
import type { Gateway } from "../gateway/gateway.js";
import type { Migration } from "../phases/migrate/migration.js";
import type { SafetyConfig } from "./settings.js";

/**
 * Enforcement (SPEC guarantee 10): before `migrate` applies anything, every
 * pending migration is judged against the live database. Error-level findings
 * the files do not allow refuse the run (exit 6); `allowUnsafe` lets them
 * through for one run and reports each.
 */
export async function judgeMigrations(gw: Gateway, pending: readonly Migration[], config: SafetyConfig | undefined, allowUnsafe: boolean, emit: EventSink): Promise<void> {
  if (!pending.some((m) => m.kind === "sql")) return;
  // Loaded only when something is pending: the rules and the deparser stay off the start-up path.
  const [{ analyze }, { findingText, refusing }] = await Promise.all([import("./analyze.js"), import("./format.js")]);
  const analysis = await analyze(pending, gw, config);
  const bad = refusing(analysis.findings);
  if (!bad.length) return;
  if (allowUnsafe) {
    for (const f of bad) emit({ type: "warning", message: `--allow-unsafe let this through:\n${findingText(f, "    ")}` });
    return;
  }
  const text = bad.map((f) => findingText(f, "  ")).join("\n");
  throw new UnsafeError(
    `refusing to migrate: ${bad.length} unsafe statement${bad.length === 1 ? "" : "s"} on tables of ${analysis.minRows.toLocaleString("en-US")} rows or more (safety.minRows)\n${text}\n` +
      "Apply the safe alternative, or judge a finding acceptable in the file with -- pgkeel:allow <rule-id> <reason> (at the top for the whole file, or on the line before the statement), or pass --allow-unsafe for this run.",
    bad,
  );
}
