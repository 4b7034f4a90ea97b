import { parse, scan } from "./parser.js";
import { InputError } from "../errors.js";
import { refuseDownSection } from "./other-tools.js";
import { SourceText } from "./text.js";

/** One statement of a SQL file, as PostgreSQL's own parser split it. */
export interface Statement {
  /** The statement's text, without the trailing semicolon. */
  readonly text: string;
  /** Parse node type, e.g. `CreateStmt`, `IndexStmt`. */
  readonly kind: string;
  /** The parse node. */
  readonly node: Record<string, unknown>;
  /** Character index of the statement's first character in the file. */
  readonly start: number;
  readonly line: number;
  readonly column: number;
}

export interface ParsedSql {
  readonly source: SourceText;
  readonly statements: readonly Statement[];
  /** Comments before the first statement, with their positions (where directives live). */
  readonly leadingComments: readonly { text: string; line: number; column: number }[];
  /** Every comment of the file, with where it starts and the line it ends on (per-statement directives). */
  readonly comments: readonly { text: string; line: number; column: number; endLine: number }[];
  /** The file's tokens minus comments, for checksums that ignore comments and whitespace. */
  readonly tokens: readonly string[];
}

/** Splits and parses a SQL file; a syntax error becomes an InputError at the file's line and column. */
export async function parseSqlFile(text: string, file: string): Promise<ParsedSql> {
  const source = new SourceText(text);
  // Scanned before parsing: another tool's down marker can sit inside a statement
  // (its tool cuts the text there), and then naming the marker beats a syntax error.
  const scanned = await scan(text).catch(() => undefined);
  if (scanned) {
    const found = scanned.tokens.filter((t) => isComment(t.tokenName)).map((t) => ({ text: t.text, ...source.lineCol(source.charIndex(t.start)) }));
    refuseDownSection(found, file);
  }
  let tree: Awaited<ReturnType<typeof parse>>;
  try {
    tree = await parse(text);
  } catch (e) {
    const err = e as Error & { sqlDetails?: { cursorPosition?: number } };
    const pos = err.sqlDetails?.cursorPosition;
    const at = pos === undefined ? {} : source.lineCol(source.charIndex(pos));
    // libpg-query says "syntax error at or near ..." already; other parse errors get the prefix.
    throw new InputError({ file, ...at }, /^syntax error/i.test(err.message) ? err.message : `syntax error: ${err.message}`);
  }
  // One scanner pass serves statement starts, directives and the checksum.
  const { tokens: all } = scanned ?? (await scan(text));
  const code = all.filter((t) => !isComment(t.tokenName));
  const statements: Statement[] = [];
  let next = 0;
  for (const raw of tree.stmts ?? []) {
    const startByte = raw.stmt_location ?? 0;
    const endByte = raw.stmt_len ? startByte + raw.stmt_len : Buffer.byteLength(text);
    const node = raw.stmt as unknown as Record<string, Record<string, unknown>>;
    const kind = Object.keys(node)[0]!;
    // stmt_location points just after the previous semicolon: start at the first token instead.
    while (next < code.length && code[next]!.start < startByte) next++;
    const firstByte = next < code.length && code[next]!.start < endByte ? code[next]!.start : startByte;
    const start = source.charIndex(firstByte);
    statements.push({
      text: source.sliceBytes(firstByte, endByte).trimEnd(),
      kind,
      node: node[kind] ?? {},
      start,
      ...source.lineCol(start),
    });
  }
  const firstCode = code[0];
  const leadingComments = all
    .filter((t) => isComment(t.tokenName) && (!firstCode || t.start < firstCode.start))
    .map((t) => ({ text: t.text, ...source.lineCol(source.charIndex(t.start)) }));
  const comments = all
    .filter((t) => isComment(t.tokenName))
    .map((t) => {
      const at = source.lineCol(source.charIndex(t.start));
      return { text: t.text, ...at, endLine: at.line + t.text.split("\n").length - 1 };
    });
  const tokens = code.map((t) => t.text);
  return { source, statements, leadingComments, comments, tokens };
}

function isComment(tokenName: string): boolean {
  return tokenName === "SQL_COMMENT" || tokenName === "C_COMMENT";
}
