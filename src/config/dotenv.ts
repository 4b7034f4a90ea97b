import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";

/**
 * `DATABASE_URL` as the project's `.env` file sets it, parsed by Node's own
 * parser (the one behind `node --env-file`). Only that one key is read; nothing
 * is put into `process.env`. Undefined when there is no file or no such key.
 */
export function dotEnvDatabaseUrl(cwd: string): string | undefined {
  const file = join(cwd, ".env");
  if (!existsSync(file)) return undefined;
  return parseEnv(readFileSync(file, "utf8")).DATABASE_URL;
}
