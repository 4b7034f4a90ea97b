import { createHash } from "node:crypto";

/**
 * A statement that aborts its transaction with `sqlstate` when `condition`
 * (SQL) holds: how a batch or migration checks, under its lock, that no other
 * runner got there first. The dollar-quote tag is derived from `seed`, so the
 * same message has the same text (and error positions) on every attempt.
 */
export function raiseIf(seed: string, condition: string, sqlstate: string, message: string): string {
  const tag = `$pgkeel_${createHash("sha1").update(seed).digest("hex").slice(0, 12)}$`;
  return `DO ${tag} BEGIN IF ${condition} THEN RAISE EXCEPTION '${message.replace(/'/g, "''")}' USING ERRCODE = '${sqlstate}'; END IF; END ${tag}`;
}
