import { scan } from "../../sql/parser.js";
import { InputError } from "../../errors.js";
import { sqlChecksum } from "../../sql/checksum.js";
import { readDirectives } from "../../sql/directives.js";
import { parseSqlFile } from "../../sql/split.js";
import { quoteIdent } from "../../state/quote.js";
import { listPhaseFiles, readSource, type PhaseDir } from "../files.js";
import type { IndexRef } from "./settle.js";

/** One index declared in an index file. */
export interface DeclaredIndex {
  readonly ref: IndexRef;
  /** The table as written, for messages. */
  readonly table: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly unique: boolean;
  /** The statement's parse node, to compare with the definition in the database. */
  readonly node: Record<string, unknown>;
  readonly checksum: string;
  /** `statement_timeout` for the build from the file's directive; default 0 (none). */
  readonly statementTimeout: string;
  /** The build statement: always CONCURRENTLY, never IF NOT EXISTS (pgkeel checks itself), named `name`. */
  buildSql(name?: string): string;
}

/** Loads every index file; refuses anything but named CREATE INDEX statements (SPEC section 2). */
export async function loadIndexes(dir: PhaseDir, cwd: string): Promise<DeclaredIndex[]> {
  const out: DeclaredIndex[] = [];
  const seen = new Map<string, DeclaredIndex>();
  for (const f of listPhaseFiles(dir, cwd, [".sql"])) {
    const parsed = await parseSqlFile(readSource(f.path, f.display), f.display);
    const directives = readDirectives(parsed.leadingComments, f.display, ["statement-timeout"]);
    if (!parsed.statements.length) throw new InputError({ file: f.display }, "an index file needs at least one CREATE INDEX statement");
    for (const s of parsed.statements) {
      const at = { file: f.display, line: s.line, column: s.column };
      if (s.kind !== "IndexStmt") {
        throw new InputError(at, `an index file holds only CREATE [UNIQUE] INDEX statements; this is ${s.kind.replace(/Stmt$/, "")}`);
      }
      const name = s.node.idxname;
      if (typeof name !== "string") throw new InputError(at, "the index needs an explicit name: pgkeel tracks indexes by name");
      const rel = s.node.relation as { schemaname?: string; relname: string };
      const ref = { schema: rel.schemaname, name, table: { schema: rel.schemaname, name: rel.relname } };
      const key = `${ref.schema ?? ""}.${name}`;
      const twin = seen.get(key);
      if (twin) throw new InputError(at, `index "${name}" is declared twice (also ${twin.file}:${twin.line})`);
      const rewrite = await concurrentForm(s.text, at);
      const idx: DeclaredIndex = {
        ref,
        table: rel.schemaname ? `${rel.schemaname}.${rel.relname}` : rel.relname,
        ...at,
        unique: s.node.unique === true,
        node: s.node,
        checksum: sqlChecksum((await scan(rewrite(name))).tokens.map((t) => t.text)),
        statementTimeout: directives.statementTimeout ?? "0",
        buildSql: (as = name) => rewrite(as),
      };
      seen.set(key, idx);
      out.push(idx);
    }
  }
  return out;
}

/**
 * Rewrites `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON ...` at
 * scanner-token boundaries into `CREATE [UNIQUE] INDEX CONCURRENTLY <name> ON ...`.
 */
async function concurrentForm(text: string, at: { file: string; line: number; column: number }): Promise<(name: string) => string> {
  const bytes = Buffer.from(text, "utf8");
  const tokens = (await scan(text)).tokens.filter((t) => t.tokenName !== "SQL_COMMENT" && t.tokenName !== "C_COMMENT");
  const upper = (i: number) => tokens[i]?.text.toUpperCase();
  let i = tokens.findIndex((t) => t.text.toUpperCase() === "INDEX");
  if (i < 0) throw new InputError(at, "cannot find the INDEX keyword");
  const head = bytes.subarray(0, tokens[i]!.end).toString("utf8");
  i++;
  if (upper(i) === "CONCURRENTLY") i++;
  if (upper(i) === "IF" && upper(i + 1) === "NOT" && upper(i + 2) === "EXISTS") i += 3;
  const nameToken = tokens[i];
  if (!nameToken) throw new InputError(at, "cannot find the index name");
  const tail = bytes.subarray(nameToken.end).toString("utf8");
  return (name) => `${head} CONCURRENTLY ${quoteIdent(name)}${tail}`;
}
