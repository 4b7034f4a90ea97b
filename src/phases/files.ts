import { existsSync, readdirSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { InputError, UsageError } from "../errors.js";

/** A phase's folder, and whether the user named it (a named folder must exist). */
export interface PhaseDir {
  readonly path: string;
  readonly explicit: boolean;
}

export interface PhaseFile {
  /** File name without its extension: unique within the phase. */
  readonly name: string;
  readonly path: string;
  /** Path relative to the project, for messages. */
  readonly display: string;
  readonly ext: string;
}

/**
 * The files of one phase in plain byte order of their names. A default folder
 * that does not exist means nothing to do; a named one is an error.
 */
export function listPhaseFiles(dir: PhaseDir, cwd: string, exts: readonly string[]): PhaseFile[] {
  if (!existsSync(dir.path)) {
    if (dir.explicit) throw new UsageError(`${dir.path}: directory not found`);
    return [];
  }
  if (!statSync(dir.path).isDirectory()) throw new UsageError(`${dir.path}: not a directory`);
  const files = readdirSync(dir.path)
    .filter((f) => exts.includes(extname(f)) && !f.endsWith(".d.ts"))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((f) => {
      const ext = extname(f);
      const path = join(dir.path, f);
      return { name: f.slice(0, -ext.length), path, display: relative(cwd, path) || f, ext };
    });
  const seen = new Map<string, PhaseFile>();
  for (const f of files) {
    const twin = seen.get(f.name);
    if (twin) throw new InputError({ file: f.display }, `two files share the name "${f.name}" (also ${twin.display})`);
    seen.set(f.name, f);
  }
  return files;
}
