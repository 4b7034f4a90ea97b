import { describe, expect, it } from "vitest";
import { admin } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { postsTable } from "./support.js";

/**
 * Hand-written histories guard DDL with DO blocks (fider's `DO $$ BEGIN IF ...
 * THEN ALTER TABLE posts ALTER COLUMN ... SET NOT NULL; END IF; END $$`). The
 * rules judge the block's own static SQL, parsed by PostgreSQL's PL/pgSQL
 * parser, placed at its line in the file; SQL built at run time (EXECUTE) stays unjudged.
 */
const guarded = [
  "DO $$",
  "BEGIN",
  "  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'posts_title_set') THEN",
  "    ALTER TABLE posts ALTER COLUMN title SET NOT NULL;",
  "  END IF;",
  "  EXECUTE format('ALTER TABLE %I ADD COLUMN slug text', 'posts');",
  "END $$;",
].join("\n");

describe("DO blocks", () => {
  it("a SET NOT NULL inside a DO block on a 20,000-row table: lint finds it at its line with its lock, migrate refuses it (exit 6), an allow lets it run", async () => {
    const url = await postsTable("do_blocks");
    const cwd = makeProject({ "db/migrations/001_title.sql": guarded });
    const lint = await runCli(["lint", "--url", url], { cwd });
    expect(lint.code, lint.stderr + lint.stdout).toBe(6);
    expect(lint.stdout).toContain("db/migrations/001_title.sql:4:5: error adding-not-nullable-field");
    expect(lint.stdout).toMatch(/lock: ACCESS EXCLUSIVE on posts/);

    const refused = await runCli(["migrate", "--url", url], { cwd });
    expect(refused.code, refused.stderr).toBe(6);
    expect(await admin(url, "SELECT attnotnull AS n FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'title'")).toEqual([{ n: false }]);

    const allowed = makeProject({ "db/migrations/001_title.sql": `-- pgkeel:allow adding-not-nullable-field every title is filled since the import\n${guarded}` });
    const r = await runCli(["migrate", "--url", url], { cwd: allowed });
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT attnotnull AS n FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'title'")).toEqual([{ n: true }]);
  });

  it("a DO block's table created inside it is new there: altering it is not flagged", async () => {
    const url = await postsTable("do_blocks_new");
    const cwd = makeProject({
      "db/migrations/001_tags.sql": "DO $$ BEGIN\n  CREATE TABLE tags (id int PRIMARY KEY, name text);\n  ALTER TABLE tags ALTER COLUMN name SET NOT NULL;\nEND $$;\n",
    });
    const lint = await runCli(["lint", "--url", url], { cwd });
    expect(lint.code, lint.stderr + lint.stdout).toBe(0);
  });
});
