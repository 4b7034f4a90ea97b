import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../support/project.js";
import { postsTable } from "./support.js";

/** What earlier statements of the run did decides how a later one is judged (src/safety/run-state.ts). */

describe("an index renamed earlier in the run", () => {
  it("is judged as the index it was: dropping it without CONCURRENTLY on a 20,000-row table is found, with the table's lock", async () => {
    const url = await postsTable("renamed_index", "CREATE INDEX posts_title_idx ON posts (title)");
    const cwd = makeProject({
      "db/migrations/001_rename.sql": "ALTER INDEX posts_title_idx RENAME TO posts_title_old_idx;\n",
      "db/migrations/002_drop.sql": "DROP INDEX posts_title_old_idx;\n",
    });
    const lint = await runCli(["lint", "--url", url, "--format", "json"], { cwd });
    expect(lint.code, lint.stderr + lint.stdout).toBe(6);
    const findings = (JSON.parse(lint.stdout) as { findings: { rule: string; file: string; line: number; table: string; locks: { table: string; mode: string }[] }[] }).findings;
    expect(findings).toEqual([
      expect.objectContaining({ rule: "require-concurrent-index-deletion", file: "db/migrations/002_drop.sql", line: 1, locks: [{ table: "posts", mode: "ACCESS EXCLUSIVE" }] }),
    ]);
  });
});
