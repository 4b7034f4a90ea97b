import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * The README's example files run as printed: every code block of its "Project
 * files" section whose first line is a comment naming a file under db/ is
 * written to a project and run.
 */
const whole = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
const readme = whole.slice(whole.indexOf("\n## Project files"), whole.indexOf("\n## ", whole.indexOf("\n## Project files") + 1));
const examples = Object.fromEntries(
  [...readme.matchAll(/```(?:ts|sql)\n(?:\/\/|--) (db\/[^\s]+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]),
);

describe("the README's examples", () => {
  it("are there: a code migration, an index file, a SQL and a code backfill", () => {
    expect(Object.keys(examples).sort()).toEqual([
      "db/backfills/20261127130000_leads_email_domain.sql",
      "db/backfills/20261127131000_leads_name_normalized.ts",
      "db/indexes/leads.sql",
      "db/migrations/20261127121000_add_lead_source.ts",
    ]);
  });

  it("run, on a leads table made first, and a rerun has nothing to do", async () => {
    const url = await freshDatabase("readme");
    const cwd = makeProject({
      ...examples,
      "db/migrations/20261127120000_create_leads.sql": `CREATE TABLE leads (
        id bigint PRIMARY KEY, email text NOT NULL, name text, status text NOT NULL DEFAULT 'new',
        created_at timestamptz NOT NULL DEFAULT now(), email_domain text);
      INSERT INTO leads (id, email, name) SELECT g, 'user' || g || '@Example.COM', '  ada ' || g FROM generate_series(1, 50) g;`,
    });
    const r = await runCli(["run", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("run: done (2 migrations applied, 2 indexes built, 2 backfills finished)");
    expect(await admin(url, "SELECT count(*)::int AS n FROM lead_sources")).toEqual([{ n: 2 }]);
    expect(await admin(url, "SELECT count(*) FILTER (WHERE email_domain = 'example.com')::int AS domains, count(*) FILTER (WHERE name = 'Ada ' || id)::int AS names FROM leads")).toEqual([
      { domains: 50, names: 50 },
    ]);
    const again = await runCli(["run", "--url", url], { cwd });
    expect(again.stderr).toContain("run: done (0 migrations applied, 0 indexes built, 0 backfills finished)");
  });
});
