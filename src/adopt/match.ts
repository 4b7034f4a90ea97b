import { compareVersions, type ToolHistory, type ToolReader } from "./history.js";

export interface Match {
  /** The tool's name for it. */
  readonly entry: string;
  readonly migration: string;
  readonly file: string;
  /** How it matched: the same name, the same version, or at or below the tool's current version. */
  readonly by: "name" | "version" | "up-to";
}

export interface Mapping {
  readonly matched: readonly Match[];
  /** Applied in the tool, but no project file matches (or several do). */
  readonly unmatched: readonly { readonly entry: string; readonly reason: string }[];
  /** Rows the tool keeps that are not applied migrations. */
  readonly skipped: ToolHistory["skipped"];
  /** Project files the tool never applied: they stay pending. */
  readonly pending: readonly string[];
}

/**
 * Matches another tool's applied migrations to the project's files:
 * 1. by name: the tool's migration name (its file name without extension;
 *    Prisma's folder name; Flyway's script without `.sql`) equals a pgkeel
 *    migration's name;
 * 2. else by version: the tool's version equals the version the file name
 *    starts with (its leading digits, or Flyway's `V<version>__`), compared as
 *    the tool compares them (`000001` = `1`; Flyway `1_1` = `1.1` = `1.1.0`);
 *    a version that several files share matches none of them;
 * 3. golang-migrate's current version (and a Flyway baseline) covers every
 *    file whose version is at or below it.
 */
export function match(history: ToolHistory, files: readonly { name: string; file: string }[], reader: ToolReader): Mapping {
  const version = (name: string) => {
    const v = reader.fileVersion(name);
    return v === undefined ? undefined : reader.normalize(v);
  };
  const byName = new Map(files.map((f) => [f.name, f]));
  const byVersion = new Map<string, { name: string; file: string }[]>();
  for (const f of files) {
    const v = version(f.name);
    if (v !== undefined) byVersion.set(v, [...(byVersion.get(v) ?? []), f]);
  }
  const matched: Match[] = [];
  const taken = new Map<string, string>();
  const unmatched: { entry: string; reason: string }[] = [];
  const take = (entry: string, f: { name: string; file: string }, by: Match["by"]) => {
    const other = taken.get(f.name);
    if (other !== undefined) return unmatched.push({ entry, reason: `${f.file} is already matched to ${other}` });
    taken.set(f.name, entry);
    matched.push({ entry, migration: f.name, file: f.file, by });
  };
  for (const e of history.entries) {
    const named = e.name === undefined ? undefined : byName.get(e.name);
    if (named) {
      take(e.id, named, "name");
      continue;
    }
    const v = e.version === undefined ? undefined : reader.normalize(e.version);
    const candidates = v === undefined ? [] : (byVersion.get(v) ?? []);
    if (candidates.length === 1) take(e.id, candidates[0]!, "version");
    else if (candidates.length > 1) unmatched.push({ entry: e.id, reason: `version ${v} is shared by ${candidates.map((c) => c.file).join(", ")}` });
    else unmatched.push({ entry: e.id, reason: [e.name !== undefined && `no file named ${e.name}`, v !== undefined && `no file with version ${v}`].filter(Boolean).join(", ") });
  }
  if (history.upTo) {
    const top = reader.normalize(history.upTo.version);
    if (!(byVersion.get(top) ?? []).length) unmatched.push({ entry: history.upTo.id, reason: `no file with version ${top}` });
    for (const f of files) {
      const v = version(f.name);
      if (v !== undefined && !taken.has(f.name) && compareVersions(v, top) <= 0) take(`${history.upTo.id} covers ${v}`, f, "up-to");
    }
  }
  matched.sort((a, b) => Buffer.compare(Buffer.from(a.migration), Buffer.from(b.migration)));
  return { matched, unmatched, skipped: history.skipped, pending: files.filter((f) => !taken.has(f.name)).map((f) => f.file) };
}
