import { importModule } from "../../config/config.js";
import { InputError } from "../../errors.js";
import { codeChecksum, fileHash, sqlChecksum } from "../../sql/checksum.js";
import { isTransactionControl, mustRunOutsideTransaction } from "../../sql/classify.js";
import { readAllows, readDirectives } from "../../sql/directives.js";
import { localSets } from "../../sql/local-set.js";
import { parseSqlFile } from "../../sql/split.js";
import { listPhaseFiles, readSource, type PhaseDir, type PhaseFile } from "../files.js";
import type { AppliedMigration } from "../../state/migrations.js";
import type { CodeMigration, Migration, MigrationFile, SqlMigration } from "./migration.js";

export const migrationExtensions = [".sql", ".ts", ".js", ".mjs"];

/** Loads and validates every migration before anything runs (SPEC guarantee 8). */
export async function loadMigrations(dir: PhaseDir, cwd: string): Promise<Migration[]> {
  const out: Migration[] = [];
  for (const f of listPhaseFiles(dir, cwd, migrationExtensions)) out.push(await loadFile(f, readSource(f.path, f.display)));
  return out;
}

/**
 * As loadMigrations, but an applied file whose bytes are those recorded when it
 * was applied is left unread (it was validated then): no parser, no import. Every
 * other file, pending or changed (an edit to comments only included), is loaded
 * and validated as before. A file naming a backfill to wait on is always loaded:
 * whether that backfill exists depends on another folder, not on these bytes.
 */
export async function loadMigrationFiles(dir: PhaseDir, cwd: string, applied: readonly AppliedMigration[]): Promise<MigrationFile[]> {
  const recorded = new Map(applied.map((a) => [a.name, a]));
  const out: MigrationFile[] = [];
  for (const f of listPhaseFiles(dir, cwd, migrationExtensions)) {
    const text = readSource(f.path, f.display);
    const a = recorded.get(f.name);
    if (a?.fileHash && a.fileHash === fileHash(a.checksum, text) && !text.includes("after-backfill")) {
      out.push({ kind: "unchanged", name: f.name, file: f.display, checksum: a.checksum, fileHash: a.fileHash });
    } else out.push(await loadFile(f, text));
  }
  return out;
}

function loadFile(f: PhaseFile, text: string): Promise<Migration> {
  return f.ext === ".sql" ? loadSql(f, text) : loadCode(f, text);
}

export async function loadSql(f: PhaseFile, text = readSource(f.path, f.display)): Promise<SqlMigration> {
  // golang-migrate's down file would run as a migration of its own, before its .up.sql (its name sorts first).
  if (f.name.endsWith(".down")) {
    throw new InputError(
      { file: f.display },
      "a golang-migrate down migration: pgkeel has no down migrations and would run this file as one of its own, before its .up.sql; delete the .down.sql files (keep the .up.sql ones)",
    );
  }
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
  const checksum = sqlChecksum(parsed.tokens);
  return {
    kind: "sql",
    name: f.name,
    file: f.display,
    checksum,
    fileHash: fileHash(checksum, text),
    source: parsed.source,
    statements: parsed.statements,
    directives,
    allows,
    transactional,
    localSets: await localSets(parsed.statements),
  };
}

/** `text`: read by readSource first, since Node would decode a bad byte silently. */
async function loadCode(f: PhaseFile, text: string): Promise<CodeMigration> {
  let mod: unknown;
  try {
    mod = await importModule(f.path);
  } catch (e) {
    throw new InputError({ file: f.display }, `cannot load: ${(e as Error).message}`);
  }
  const up = (mod as { up?: unknown }).up;
  if (typeof up !== "function") throw new InputError({ file: f.display }, "a code migration must export async function up(db)");
  const checksum = codeChecksum(text);
  return {
    kind: "code",
    name: f.name,
    file: f.display,
    checksum,
    fileHash: fileHash(checksum, text),
    up: up as CodeMigration["up"],
    transactional: true,
    directives: { noTransaction: false },
  };
}
