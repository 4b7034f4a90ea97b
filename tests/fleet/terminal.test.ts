import { afterAll, describe, expect, it } from "vitest";
import { makeProject } from "../support/project.js";
import { TmuxPane, tmuxSkip } from "../support/tmux.js";
import { fleetDatabases, writeConfig } from "./support.js";

const panes: TmuxPane[] = [];
afterAll(() => panes.forEach((p) => p.kill()));

describe.skipIf(tmuxSkip())("a fleet run on a terminal", () => {
  it("shows one live line (wave, done, running, failed, waiting), then the table and the count of failed members", async () => {
    const urls = await fleetDatabases("fleettty", 3);
    // A slow backfill keeps each member running long enough to be seen.
    const dir = makeProject({
      "db/migrations/1_t.sql": "CREATE TABLE t (id int PRIMARY KEY, v int);\nINSERT INTO t SELECT g, 0 FROM generate_series(1, 40) g;\n",
      "db/backfills/2_v.sql": "-- pgkeel:backfill table=t key=id batch=2 pause=100ms\nUPDATE t SET v = 1 WHERE id BETWEEN :from AND :to;\n",
    });
    writeConfig(dir, { fleets: { t: { urls, canary: 1, concurrency: 1 } } });
    const pane = new TmuxPane(dir, 120, ["run", "--fleet", "t"]);
    panes.push(pane);
    const live = await pane.waitFor((s) => s.some((l) => /^fleet: wave 1 \(2\/2\) · 1 done · 1 running · 0 failed · 1 waiting · about \d+ s left/.test(l)), "the live line in wave 1");
    expect(live.filter((l) => l.startsWith("fleet: "))).toHaveLength(1);
    const end = await pane.exited();
    expect(end).toContain("[exit 0]");
    expect(end.some((l) => /^done\s+0\s+postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/fleettty_\d+_2$/.test(l))).toBe(true);
    expect(end.filter((l) => l.startsWith("fleet t: ")).at(-1)).toBe("fleet t: 0 failed of 3 members; 3 done, 0 done before, 0 not started; exit 0");
    // The live line is gone once the run ended.
    expect(end.some((l) => l.startsWith("fleet: wave"))).toBe(false);
  });
});
