import { existsSync, statSync } from "node:fs";
import { basename, extname, relative, resolve } from "node:path";
import { UsageError } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import { listPhaseFiles, type PhaseFile } from "../phases/files.js";
import { loadSql, migrationExtensions } from "../phases/migrate/load.js";
import { stateTableExists } from "../state/exists.js";
import { readApplied } from "../state/migrations.js";
import type { StateNames } from "../state/schema.js";
import type { AnalysisInput } from "./analyze.js";

/**
 * The files `lint` judges: those named (files or folders), in migration order
 * so that what an earlier file creates is known to a later one. Code
 * migrations are listed, not imported: their SQL is unknown until they run.
 */
export async function loadLintFiles(paths: readonly string[], cwd: string): Promise<AnalysisInput[]> {
  const files: PhaseFile[] = [];
  for (const p of paths) {
    const path = resolve(cwd, p);
    if (!existsSync(path)) throw new UsageError(`${p}: no such file or directory`);
    if (statSync(path).isDirectory()) files.push(...listPhaseFiles({ path, explicit: true }, cwd, migrationExtensions));
    else {
      const ext = extname(path);
      if (!migrationExtensions.includes(ext)) throw new UsageError(`${p}: not a migration (expected ${migrationExtensions.join(", ")})`);
      files.push({ name: basename(path, ext), path, display: relative(cwd, path) || basename(path), ext });
    }
  }
  files.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return loadInputs(files);
}

export async function loadInputs(files: readonly PhaseFile[]): Promise<AnalysisInput[]> {
  const out: AnalysisInput[] = [];
  for (const f of files) out.push(f.ext === ".sql" ? await loadSql(f) : { kind: "code", name: f.name, file: f.display });
  return out;
}

/** Names of applied migrations, read without creating pgkeel's tables (lint never writes). */
export async function appliedNames(gw: Gateway, names: StateNames): Promise<Set<string>> {
  if (!(await stateTableExists(gw, names.migrations))) return new Set();
  return new Set((await readApplied(gw, names, false)).map((a) => a.name));
}
