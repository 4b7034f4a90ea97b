import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../support/project.js";

/**
 * Real histories create contrib extensions (pg_trgm, btree_gin, pgcrypto: see
 * tests/fixtures/extensions/README.md, files written for the test). The embedded database (no URL) is how a
 * new user tries pgkeel first, so it must have them as a server would.
 */
const fixtures = resolve(import.meta.dirname, "../fixtures/extensions");

describe("embedded database: contrib extensions of real histories", { timeout: 120_000 }, () => {
  it("CREATE EXTENSION pg_trgm, btree_gin, pgcrypto, uuid-ossp, citext work, and their functions too", async () => {
    const files: Record<string, string> = Object.fromEntries(
      readdirSync(fixtures)
        .filter((f) => f.endsWith(".sql"))
        .map((f) => [`db/migrations/${f}`, readFileSync(join(fixtures, f), "utf8")]),
    );
    files["db/migrations/20230101000000_use_them.sql"] = [
      'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";',
      "CREATE EXTENSION IF NOT EXISTS citext;",
      "CREATE TABLE people (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), email citext NOT NULL, token bytea NOT NULL DEFAULT gen_random_bytes(8), name text NOT NULL);",
      "CREATE INDEX people_name_trgm ON people USING gin (name gin_trgm_ops);",
      "INSERT INTO people (email, name) VALUES ('A@Example.com', 'Ada');",
    ].join("\n");
    const cwd = makeProject(files);
    const r = await runCli(["migrate"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("migrate: done (3 applied)");
  });
});
