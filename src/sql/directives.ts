import { InputError } from "../errors.js";

/** `-- pgkeel:...` comments at the top of a file. */
export interface Directives {
  readonly noTransaction: boolean;
  /** A PostgreSQL duration such as `2s`, `500ms` or `0`. */
  readonly lockTimeout?: string;
  readonly statementTimeout?: string;
  /** `-- pgkeel:after-backfill NAME`: a contract migration held back until that backfill is done. */
  readonly afterBackfill?: { readonly name: string; readonly line: number; readonly column: number };
}

const prefix = "pgkeel:";
const durationPattern = /^(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?$/;

/** A duration ("0", "500ms", "2s", "1min"; no unit means ms, as in PostgreSQL) in milliseconds. */
export function durationMs(d: string): number {
  const m = durationPattern.exec(d);
  if (!m) return Number.NaN;
  const factor = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "ms"] ?? 1;
  return Math.floor(Number(m[1]) * factor);
}

/**
 * Reads directives from the leading comments the parser's scanner found. Anything
 * after `pgkeel:` that is not a known directive is refused, so a typo is not
 * silently ignored. `allowed` names the directives this kind of file accepts.
 */
export function readDirectives(
  comments: readonly { text: string; line: number; column: number }[],
  file: string,
  allowed: readonly string[] = ["no-transaction", "lock-timeout", "statement-timeout", "after-backfill"],
): Directives & { readonly extra: readonly { name: string; args: string; line: number; column: number }[] } {
  let noTransaction = false;
  let lockTimeout: string | undefined;
  let statementTimeout: string | undefined;
  let afterBackfill: Directives["afterBackfill"];
  const extra: { name: string; args: string; line: number; column: number }[] = [];
  for (const c of comments) {
    const body = c.text.startsWith("--") ? c.text.slice(2).trim() : c.text.replace(/^\/\*|\*\/$/g, "").trim();
    if (!body.startsWith(prefix)) continue;
    const [name = "", ...rest] = body.slice(prefix.length).trim().split(/\s+/);
    const args = rest.join(" ");
    const at = { file, line: c.line, column: c.column };
    if (!allowed.includes(name)) {
      throw new InputError(at, `unknown directive "pgkeel:${name}" (known here: ${allowed.map((a) => `pgkeel:${a}`).join(", ")})`);
    }
    const duration = () => {
      if (!durationPattern.test(args)) {
        throw new InputError(at, `pgkeel:${name} needs a duration such as 2s, 500ms or 0, got "${args}"`);
      }
      return args.replace(/\s+/g, "");
    };
    if (name === "no-transaction") {
      if (args) throw new InputError(at, `pgkeel:no-transaction takes no value, got "${args}"`);
      noTransaction = true;
    } else if (name === "lock-timeout") lockTimeout = duration();
    else if (name === "statement-timeout") statementTimeout = duration();
    else if (name === "after-backfill") {
      if (!/^\S+$/.test(args)) throw new InputError(at, `pgkeel:after-backfill needs one backfill name (its file name without extension), got "${args}"`);
      if (afterBackfill) throw new InputError(at, `pgkeel:after-backfill is given twice (first on line ${afterBackfill.line})`);
      afterBackfill = { name: args, line: c.line, column: c.column };
    } else extra.push({ name, args, line: c.line, column: c.column });
  }
  return { noTransaction, lockTimeout, statementTimeout, ...(afterBackfill && { afterBackfill }), extra };
}
