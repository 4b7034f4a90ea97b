import { UsageError } from "../errors.js";
import type { Rule, RuleLevel } from "./types.js";

/** The config's `safety` key. */
export interface SafetyConfig {
  /** Error-level findings refuse the run on tables with at least this many estimated rows (default 10,000). */
  readonly minRows?: number;
  /** Per rule id: "error", "warning" or "off". Hygiene rules (prefer-*) are off unless named here. */
  readonly rules?: Readonly<Record<string, RuleLevel | "off">>;
}

export const defaultMinRows = 10_000;

export interface ActiveRule {
  readonly rule: Rule;
  readonly level: RuleLevel;
}

/** The rules to run at their levels; an unknown rule id or level in the config is a configuration error. */
export function activeRules(all: readonly Rule[], config: SafetyConfig | undefined): ActiveRule[] {
  const levels = config?.rules ?? {};
  for (const [id, level] of Object.entries(levels)) {
    if (!all.some((r) => r.id === id)) throw new UsageError(`config safety.rules: unknown rule "${id}" (rules: ${all.map((r) => r.id).join(", ")})`);
    if (!["error", "warning", "off"].includes(level)) throw new UsageError(`config safety.rules.${id}: expected "error", "warning" or "off", got ${JSON.stringify(level)}`);
  }
  return all.flatMap((rule) => {
    const level = levels[rule.id] ?? (rule.hygiene ? "off" : rule.level);
    return level === "off" ? [] : [{ rule, level }];
  });
}

export function minRowsOf(config: SafetyConfig | undefined): number {
  const n = config?.minRows ?? defaultMinRows;
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`config safety.minRows must be a non-negative number, got ${JSON.stringify(config?.minRows)}`);
  return n;
}
