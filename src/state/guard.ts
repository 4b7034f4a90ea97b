import { createHash } from "node:crypto";

/**
 * A `DO` block around PL/pgSQL `body`. The dollar-quote tag is derived from
 * `seed`, so the same message has the same text (and error positions) on every
 * attempt.
 */
export function doBlock(seed: string, body: string): string {
  const tag = `$pgkeel_${createHash("sha1").update(seed).digest("hex").slice(0, 12)}$`;
  return `DO ${tag} BEGIN ${body} END ${tag}`;
}

/** PL/pgSQL that aborts the transaction with `sqlstate` and `message`. */
export function raiseSql(sqlstate: string, message: string): string {
  return `RAISE EXCEPTION '${message.replace(/'/g, "''")}' USING ERRCODE = '${sqlstate}';`;
}

/**
 * A statement that aborts its transaction with `sqlstate` when `condition`
 * (SQL) holds: how a batch or migration checks, under its lock, that no other
 * runner got there first.
 */
export function raiseIf(seed: string, condition: string, sqlstate: string, message: string): string {
  return doBlock(seed, `IF ${condition} THEN ${raiseSql(sqlstate, message)} END IF;`);
}
