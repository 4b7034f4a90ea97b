import { parse, parsePlPgSql } from "../sql/parser.js";
import type { Statement } from "../sql/split.js";

/** The SQL statements of a DO block that the safety rules can judge. */
export interface DoBlockBody {
  /** Static statements of the block, each placed at its line in the file. */
  readonly statements: readonly Statement[];
  /** The block runs SQL built at run time (EXECUTE): that part is not judged. */
  readonly dynamic: boolean;
}

/**
 * A PL/pgSQL DO block's own SQL (`ALTER TABLE ... SET NOT NULL` inside an `IF`,
 * say), parsed by PostgreSQL's PL/pgSQL parser so the rules see what it will run.
 * Undefined when it is not a PL/pgSQL DO block or cannot be parsed (then it
 * stays "not analysed", as before). A statement the SQL parser refuses (one
 * with a PL/pgSQL `INTO`, say) is left out.
 */
export async function doBlockBody(s: Statement): Promise<DoBlockBody | undefined> {
  if (s.kind !== "DoStmt") return undefined;
  const args = ((s.node.args as unknown[] | undefined) ?? []).map((a) => (a as { DefElem?: { defname?: string; arg?: { String?: { sval?: string } } } }).DefElem);
  const language = args.find((a) => a?.defname === "language")?.arg?.String?.sval ?? "plpgsql";
  const body = args.find((a) => a?.defname === "as")?.arg?.String?.sval;
  if (language !== "plpgsql" || body === undefined) return undefined;
  let tag = "pgkeel_body";
  while (body.includes(`$${tag}$`)) tag += "_";
  let tree: unknown;
  try {
    tree = await parsePlPgSql(`CREATE FUNCTION pgkeel_do() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$`);
  } catch {
    return undefined;
  }
  const found: { query: string; lineno: number }[] = [];
  let dynamic = false;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    const exec = o.PLpgSQL_stmt_execsql as { lineno?: number; sqlstmt?: { PLpgSQL_expr?: { query?: string } } } | undefined;
    if (exec?.sqlstmt?.PLpgSQL_expr?.query) found.push({ query: exec.sqlstmt.PLpgSQL_expr.query, lineno: exec.lineno ?? 1 });
    if (o.PLpgSQL_stmt_dynexecute || o.PLpgSQL_stmt_dynfors) dynamic = true;
    Object.values(o).forEach(visit);
  };
  visit(tree);
  // Lines of the body are counted from the line its text starts on in the file.
  const bodyAt = s.text.indexOf(body);
  const firstLine = s.line + (bodyAt < 0 ? 0 : (s.text.slice(0, bodyAt).match(/\n/g)?.length ?? 0));
  const statements: Statement[] = [];
  for (const { query, lineno } of found) {
    let parsed: Awaited<ReturnType<typeof parse>>;
    try {
      parsed = await parse(query);
    } catch {
      continue;
    }
    for (const raw of parsed.stmts ?? []) {
      const node = raw.stmt as Record<string, Record<string, unknown>> | undefined;
      const kind = node && Object.keys(node)[0];
      if (!node || !kind) continue;
      const line = firstLine + lineno - 1;
      const text = body.split("\n")[lineno - 1] ?? "";
      statements.push({ text: query, kind, node: node[kind]!, start: s.start, line, column: text.length - text.trimStart().length + 1 });
    }
  }
  return { statements, dynamic };
}
