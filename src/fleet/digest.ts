import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * A digest of the project's phase folders (every file's name and bytes): a
 * member recorded done for one digest is done for this exact project, and a new
 * or edited file makes the fleet visit every member again.
 */
export function projectDigest(dirs: Readonly<Record<string, string>>): string {
  const h = createHash("sha256");
  // By phase, not by path: two checkouts of one project in different folders agree.
  for (const [phase, dir] of Object.entries(dirs)) {
    h.update(`${phase}\0`);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (!statSync(p).isFile()) continue;
      h.update(`${f}\0`);
      h.update(readFileSync(p));
      h.update("\0");
    }
  }
  return h.digest("hex").slice(0, 16);
}
