import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { UsageError } from "../errors.js";

/** `pgkeel create NAME`: a new file named by the current UTC time. */
export function createFile(cwd: string, dir: string, rawName: string, kind: "migration" | "index" | "backfill", now = new Date()): string {
  const name = rawName.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
  if (!name) throw new UsageError(`create: "${rawName}" has no letters or digits to name a file with`);
  const stamp = now.toISOString().replace(/\D/g, "").slice(0, 14);
  const folder = resolve(cwd, dir);
  const file = join(folder, kind === "index" ? `${name}.sql` : `${stamp}_${name}.sql`);
  if (existsSync(file)) throw new UsageError(`create: ${relative(cwd, file)} already exists`);
  mkdirSync(folder, { recursive: true });
  const body = {
    migration: `-- ${name}\n-- Runs in one transaction with its tracking row. Directives: -- pgkeel:lock-timeout 5s, -- pgkeel:no-transaction\n-- Write its SQL below: pgkeel refuses a migration with no statements.\n\n`,
    index: `-- ${name}: built with CREATE INDEX CONCURRENTLY whatever this file says.\nCREATE INDEX ${name} ON table_name (column_name);\n`,
    backfill: `-- pgkeel:backfill table=table_name key=id batch=5000\nUPDATE table_name SET column_name = column_name\n WHERE id BETWEEN :from AND :to;\n`,
  }[kind];
  writeFileSync(file, body);
  return relative(cwd, file);
}
