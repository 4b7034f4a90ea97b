import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { bumpBackfill, countersCheck, countersTable } from "../support/counters.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * `run` does the backfill phase too, so it takes `--workers` as `backfill` does
 * (found trying a real project: `pgkeel run --workers 2` was a usage error).
 */
describe("run --workers", () => {
  it("runs the backfill phase with that many workers, every row changed once", async () => {
    const url = await freshDatabase("run_workers");
    await admin(url, `${countersTable(3000)}; ANALYZE counters`);
    const cwd = makeProject({
      "db/migrations/001_note.sql": "ALTER TABLE counters ADD COLUMN note text;",
      "db/backfills/001_bump.sql": bumpBackfill(100),
    });
    const r = await runCli(["run", "--workers", "2", "--json", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; workers?: number });
    expect(events.find((e) => e.type === "backfill-start")).toMatchObject({ workers: 2 });
    expect(await countersCheck(url)).toEqual({ n: 3000, wrong: 0 });
  });

  it("a bad count is a usage error naming the flag", async () => {
    const r = await runCli(["run", "--workers", "0"], { cwd: makeProject({}) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workers/);
  });
});
