import type { PhaseContext } from "../context.js";
import { applyBatch } from "./batch.js";
import { applyCode } from "./code.js";
import type { Migration, SqlMigration } from "./migration.js";
import { applyStepwise, type StepwiseOptions } from "./stepwise.js";

/** Applies one migration exactly once, by the path its kind needs. */
export async function applyMigration(m: Migration, c: PhaseContext, opts: StepwiseOptions = {}): Promise<"applied" | "skipped"> {
  if (!m.transactional) return applyStepwise(m as SqlMigration, c, opts);
  if (m.kind === "sql") return (await applyBatch([m], c))[0]!.by === "this-run" ? "applied" : "skipped";
  return applyCode(m, c);
}
