import { beforeAll, describe, expect, it } from "vitest";
import { admin } from "../support/db.js";
import { bumpBackfill } from "../support/counters.js";
import { makeProject, runCli } from "../support/project.js";
import { events, fleetDatabases, writeConfig } from "./support.js";

/** Per member: index builds started, whether the declared index is there and valid, rows not bumped exactly once, rows bumped. */
async function memberState(url: string): Promise<{ builds: number; index: boolean | null; wrong: number; bumped: number }> {
  const [r] = await admin<{ builds: number; index: boolean | null; wrong: number; bumped: number }>(
    url,
    `SELECT (SELECT count(*)::int FROM pgkeel.index_builds WHERE index_name = 'counters_code_key') AS builds,
            (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('counters_code_key')) AS index,
            (SELECT count(*) FILTER (WHERE hits <> 1)::int FROM counters) AS wrong,
            (SELECT count(*) FILTER (WHERE hits > 0)::int FROM counters) AS bumped`,
  );
  return r!;
}

const lastLine = (stdout: string) => stdout.trim().split("\n").pop();

/** `status --fleet dbs --json`: each member's state, exit and error. */
async function fleetStatus(dir: string): Promise<{ state: string; exit: number; error?: string }[]> {
  const s = await runCli(["status", "--fleet", "dbs", "--json"], { cwd: dir });
  expect(s.code, s.stderr).toBe(0);
  return (JSON.parse(s.stdout) as { members: { state: string; exit: number; error?: string }[] }).members.map(({ state, exit, error }) => ({ state, exit, ...(error !== undefined && { error }) }));
}

/**
 * `indexes --fleet` and `backfill --fleet` on their own, not through `run`: each
 * does its one phase on every member, once; a member's failure (duplicate keys
 * under a unique index, a row a CHECK refuses mid-backfill) is that member's,
 * with its exit status, and a rerun after the fix does only what is left.
 */
describe("fleet indexes and backfill on their own", () => {
  const n = 8;
  let urls: string[] = [];
  const files = {
    "db/migrations/p_1_counters.sql": "CREATE TABLE counters (id bigint PRIMARY KEY, code text NOT NULL, hits int NOT NULL DEFAULT 0);\nINSERT INTO counters (id, code) SELECT g, 'c' || g FROM generate_series(1, 120) g;\n",
    "db/indexes/counters_code_key.sql": "CREATE UNIQUE INDEX counters_code_key ON counters (code);\n",
    "db/backfills/p_2_bump.sql": bumpBackfill(40),
  };

  beforeAll(async () => {
    urls = await fleetDatabases("fleetphases", n);
  });

  it("indexes --fleet builds each member's indexes once and nothing else; backfill --fleet bumps each row once; failures are the member's, reruns finish them", async () => {
    const dir = makeProject(files);
    writeConfig(dir, { maxRetries: 2, retryCapMs: 50, fleets: { dbs: { urls, canary: 1, concurrency: 3 } } });
    const migrated = await runCli(["migrate", "--fleet", "dbs"], { cwd: dir });
    expect(migrated.code, migrated.stderr + migrated.stdout).toBe(0);
    // Member 4 has a duplicate code; member 5 refuses row 77 being bumped.
    await admin(urls[4]!, "UPDATE counters SET code = 'c1' WHERE id = 2");
    await admin(urls[5]!, "ALTER TABLE counters ADD CONSTRAINT no_77 CHECK (id <> 77 OR hits = 0)");

    const indexes = await runCli(["indexes", "--fleet", "dbs"], { cwd: dir });
    expect(indexes.code, indexes.stderr + indexes.stdout).toBe(1);
    expect(indexes.stdout).toMatch(/^failed\s+1\s+postgres:\/\/\S+fleetphases_\d+_4  .*counters_code_key.*/m);
    expect(lastLine(indexes.stdout)).toBe("fleet dbs: 1 failed of 8 members; 7 done, 0 done before, 0 not started; exit 1");
    for (const [i, url] of urls.entries()) {
      const s = await memberState(url);
      // Built once where it could be; no backfill ran.
      expect({ i, ...s }).toEqual(i === 4 ? { i, builds: 1, index: s.index, wrong: 120, bumped: 0 } : { i, builds: 1, index: true, wrong: 120, bumped: 0 });
    }
    expect((await memberState(urls[4]!)).index).not.toBe(true);
    // status --fleet shows the member's failed fleet run, whatever command it was; the others still have a backfill to do.
    const afterIndexes = await fleetStatus(dir);
    expect(afterIndexes[4]).toEqual({ state: "failed", exit: 1, error: expect.stringContaining('could not create unique index "counters_code_key"') });
    expect(afterIndexes.filter((_, i) => i !== 4)).toEqual(Array(7).fill({ state: "pending", exit: 0 }));

    await admin(urls[4]!, "UPDATE counters SET code = 'c2' WHERE id = 2");
    const indexesAgain = await runCli(["indexes", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(indexesAgain.code, indexesAgain.stderr + indexesAgain.stdout).toBe(0);
    expect(events(indexesAgain.stdout).at(-1)).toMatchObject({ type: "fleet-done", exit: 0, counts: { done: 1, skipped: 7, failed: 0, pending: 0 } });
    for (const [i, url] of urls.entries()) expect({ i, ...(await memberState(url)) }).toEqual({ i, builds: i === 4 ? 2 : 1, index: true, wrong: 120, bumped: 0 });

    // --pause and --resume act on one database's backfill: with --fleet they are refused, and no backfill runs.
    for (const flag of ["--pause", "--resume"]) {
      const refused = await runCli(["backfill", "--fleet", "dbs", flag, "p_2_bump"], { cwd: dir });
      expect(refused.code, refused.stderr + refused.stdout).toBe(2);
      expect(refused.stderr).toContain(`${flag} works on one database`);
    }
    for (const url of urls) expect((await memberState(url)).bumped).toBe(0);

    const backfill = await runCli(["backfill", "--fleet", "dbs"], { cwd: dir });
    expect(backfill.code, backfill.stderr + backfill.stdout).toBe(1);
    expect(backfill.stdout).toMatch(/^failed\s+1\s+postgres:\/\/\S+fleetphases_\d+_5  .*no_77/m);
    expect(lastLine(backfill.stdout)).toBe("fleet dbs: 1 failed of 8 members; 7 done, 0 done before, 0 not started; exit 1");
    for (const [i, url] of urls.entries()) {
      const s = await memberState(url);
      if (i === 5) expect(s.bumped).toBeLessThan(120);
      else expect({ i, ...s }).toEqual({ i, builds: i === 4 ? 2 : 1, index: true, wrong: 0, bumped: 120 });
    }
    const afterBackfill = await fleetStatus(dir);
    expect(afterBackfill[5]).toEqual({ state: "failed", exit: 1, error: expect.stringContaining('violates check constraint "no_77"') });
    expect(afterBackfill.filter((_, i) => i !== 5)).toEqual(Array(7).fill({ state: "done", exit: 0 }));

    await admin(urls[5]!, "ALTER TABLE counters DROP CONSTRAINT no_77");
    const backfillAgain = await runCli(["backfill", "--fleet", "dbs", "--json"], { cwd: dir });
    expect(backfillAgain.code, backfillAgain.stderr + backfillAgain.stdout).toBe(0);
    expect(events(backfillAgain.stdout).at(-1)).toMatchObject({ type: "fleet-done", exit: 0, counts: { done: 1, skipped: 7, failed: 0, pending: 0 } });
    // Every row bumped exactly once, the batches committed before the failure included; no index built again.
    for (const [i, url] of urls.entries()) expect({ i, ...(await memberState(url)) }).toEqual({ i, builds: i === 4 ? 2 : 1, index: true, wrong: 0, bumped: 120 });
    expect(await fleetStatus(dir)).toEqual(Array(8).fill({ state: "done", exit: 0 }));
  });
});
