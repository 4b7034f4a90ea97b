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
  allowed: readonly string[] = ["no-transaction", "lock-timeout", "statement-timeout", "after-backfill", "allow"],
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
    } else if (name === "allow") continue; // read with the statements by readAllows
    else extra.push({ name, args, line: c.line, column: c.column });
  }
  return { noTransaction, lockTimeout, statementTimeout, ...(afterBackfill && { afterBackfill }), extra };
}

/** `-- pgkeel:allow <rule-id> <reason>`: a safety finding judged acceptable, for the whole file or one statement. */
export interface AllowDirective {
  readonly rule: string;
  readonly reason: string;
  readonly line: number;
  readonly column: number;
  /** Index of the statement it allows; undefined: the whole file (the directive is at the top). */
  readonly statement?: number;
}

type Comment = { readonly text: string; readonly line: number; readonly column: number; readonly endLine: number };

/**
 * Finds the allow directives of a file: in the comments at the top (whole file)
 * or in the comment lines right before a statement (that statement), read from
 * the scanner's comment tokens. An unknown rule id, a missing reason or an
 * allow anywhere else is bad input.
 */
export function readAllows(
  comments: readonly Comment[],
  statements: readonly { readonly line: number; readonly column: number; readonly start: number }[],
  file: string,
  ruleIds: readonly string[],
): AllowDirective[] {
  const out: AllowDirective[] = [];
  const firstLine = statements[0]?.line ?? Number.POSITIVE_INFINITY;
  for (const c of comments) {
    const body = c.text.startsWith("--") ? c.text.slice(2).trim() : c.text.slice(2, -2).trim();
    if (!body.startsWith(`${prefix}allow`)) continue;
    const [name = "", rule = "", ...reason] = body.slice(prefix.length).trim().split(/\s+/);
    if (name !== "allow") continue;
    const at = { file, line: c.line, column: c.column };
    if (!rule) throw new InputError(at, "pgkeel:allow needs a rule id and a reason: -- pgkeel:allow <rule-id> <reason>");
    if (!ruleIds.includes(rule)) throw new InputError(at, `pgkeel:allow names an unknown rule "${rule}" (rules: ${ruleIds.join(", ")})`);
    if (!reason.length) throw new InputError(at, `pgkeel:allow ${rule} needs a reason after the rule id, e.g. -- pgkeel:allow ${rule} the table is empty in every environment`);
    const allow = { rule, reason: reason.join(" "), line: c.line, column: c.column };
    if (c.endLine < firstLine) {
      out.push(allow);
      continue;
    }
    const statement = statementAfter(comments, c, statements);
    if (statement === undefined) {
      throw new InputError(at, "pgkeel:allow must be at the top of the file (whole file) or on the line right before the statement it allows");
    }
    out.push({ ...allow, statement });
  }
  return out;
}

/** The statement whose first line follows the unbroken run of comment lines that holds `c`. */
function statementAfter(comments: readonly Comment[], c: Comment, statements: readonly { line: number }[]): number | undefined {
  let line = c.endLine;
  for (;;) {
    const next = line + 1;
    const s = statements.findIndex((st) => st.line === next);
    if (s >= 0) return s;
    const more = comments.find((o) => o.line === next);
    if (!more) return undefined;
    line = more.endLine;
  }
}
