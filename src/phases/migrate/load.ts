import { importModule } from "../../config/config.js";
import { InputError } from "../../errors.js";
import { codeChecksum, sqlChecksum } from "../../sql/checksum.js";
import { isTransactionControl, mustRunOutsideTransaction } from "../../sql/classify.js";
import { readAllows, readDirectives } from "../../sql/directives.js";
import { localSets } from "../../sql/local-set.js";
import { parseSqlFile } from "../../sql/split.js";
import { listPhaseFiles, readSource, type PhaseDir, type PhaseFile } from "../files.js";
import type { CodeMigration, Migration, SqlMigration } from "./migration.js";

export const migrationExtensions = [".sql", ".ts", ".js", ".mjs"];

/** Loads and validates every migration before anything runs (SPEC guarantee 8). */
export async function loadMigrations(dir: PhaseDir, cwd: string): Promise<Migration[]> {
  const out: Migration[] = [];
  for (const f of listPhaseFiles(dir, cwd, migrationExtensions)) {
    out.push(f.ext === ".sql" ? await loadSql(f) : await loadCode(f));
  }
  return out;
}

export async function loadSql(f: PhaseFile): Promise<SqlMigration> {
  const text = readSource(f.path, f.display);
  const parsed = await parseSqlFile(text, f.display);
  const directives = readDirectives(parsed.leadingComments, f.display);
  if (parsed.statements.length === 0) {
    throw new InputError(
      { file: f.display },
      "the migration has no statements: the file is empty, or holds only comments (as one just made by pgkeel create does); write its SQL, or delete the file",
    );
  }
  for (const s of parsed.statements) {
    if (isTransactionControl(s)) {
      throw new InputError(
        { file: f.display, line: s.line, column: s.column },
        "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...) is not allowed: pgkeel runs each migration in its own transaction, or statement by statement with -- pgkeel:no-transaction",
      );
    }
  }
  // Rule ids are loaded only for files that name one.
  const allows = parsed.comments.some((c) => c.text.includes("pgkeel:allow"))
    ? readAllows(parsed.comments, parsed.statements, f.display, (await import("../../safety/rules/index.js")).ruleIds)
    : [];
  const transactional = !directives.noTransaction && !parsed.statements.some(mustRunOutsideTransaction);
  return {
    kind: "sql",
    name: f.name,
    file: f.display,
    checksum: sqlChecksum(parsed.tokens),
    source: parsed.source,
    statements: parsed.statements,
    directives,
    allows,
    transactional,
    localSets: await localSets(parsed.statements),
  };
}

async function loadCode(f: PhaseFile): Promise<CodeMigration> {
  // Node would decode a bad byte silently; refuse it first.
  const text = readSource(f.path, f.display);
  let mod: unknown;
  try {
    mod = await importModule(f.path);
  } catch (e) {
    throw new InputError({ file: f.display }, `cannot load: ${(e as Error).message}`);
  }
  const up = (mod as { up?: unknown }).up;
  if (typeof up !== "function") throw new InputError({ file: f.display }, "a code migration must export async function up(db)");
  return {
    kind: "code",
    name: f.name,
    file: f.display,
    checksum: codeChecksum(text),
    up: up as CodeMigration["up"],
    transactional: true,
    directives: { noTransaction: false },
  };
}
