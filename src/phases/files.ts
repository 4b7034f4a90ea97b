import { isUtf8 } from "node:buffer";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
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
  refuseFolderLayout(dir.path, cwd);
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

/**
 * Prisma keeps each migration in a folder of its own (`<name>/migration.sql`).
 * pgkeel reads only the files directly in a phase's folder, so such a folder
 * would read as nothing to do: refused, saying how to copy the files.
 */
function refuseFolderLayout(path: string, cwd: string): void {
  const nested = readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(path, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort();
  if (!nested.length) return;
  const first = relative(cwd, join(path, nested[0]!, "migration.sql"));
  throw new UsageError(
    `${first}${nested.length > 1 ? ` (and ${nested.length - 1} more)` : ""} sits in a folder of its own, as Prisma lays migrations out: ` +
      `pgkeel reads only the files directly in ${relative(cwd, path) || "."}, one per migration, named <name>.sql. ` +
      `Copy each as db/migrations/<folder name>.sql (here db/migrations/${nested[0]}.sql): ` +
      `for d in ${relative(cwd, path) || "."}/*/; do cp "$d/migration.sql" "db/migrations/$(basename "$d").sql"; done`,
  );
}

/**
 * A file's text, refused unless it is valid UTF-8: decoding it anyway would
 * change what runs (a Latin-1 é becomes U+FFFD). Names the first bad byte's
 * line and column (in characters, as PostgreSQL counts them).
 */
export function readSource(path: string, display: string): string {
  const bytes = readFileSync(path);
  // The native check first: finding the bad byte in JS is only worth it for a file that has one.
  if (isUtf8(bytes)) return bytes.toString("utf8");
  const bad = firstBadByte(bytes);
  const before = bytes.subarray(0, bad).toString("utf8");
  const lineStart = before.lastIndexOf("\n") + 1;
  throw new InputError(
    { file: display, line: before.split("\n").length, column: [...before.slice(lineStart)].length + 1 },
    `not valid UTF-8 (byte 0x${bytes[bad]!.toString(16)}): pgkeel reads every file as UTF-8; save it as UTF-8`,
  );
}

/** Where the first byte sequence that is not well-formed UTF-8 (Unicode table 3-7) starts, or -1. */
function firstBadByte(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    // Sequence length and the allowed range of its second byte, by lead byte.
    const [len, lo, hi] =
      c < 0x80 ? [1, 0, 0]
      : c >= 0xc2 && c <= 0xdf ? [2, 0x80, 0xbf]
      : c === 0xe0 ? [3, 0xa0, 0xbf]
      : c === 0xed ? [3, 0x80, 0x9f]
      : c >= 0xe1 && c <= 0xef ? [3, 0x80, 0xbf]
      : c === 0xf0 ? [4, 0x90, 0xbf]
      : c >= 0xf1 && c <= 0xf3 ? [4, 0x80, 0xbf]
      : c === 0xf4 ? [4, 0x80, 0x8f]
      : [0, 0, 0];
    if (len === 0) return i;
    for (let k = 1; k < len; k++) {
      const x = b[i + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return i;
    }
    i += len;
  }
  return -1;
}
