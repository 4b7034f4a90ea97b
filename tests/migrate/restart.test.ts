import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { admin } from "../support/db.js";
import { runCli } from "../support/project.js";
import { startEmbedded, type EmbeddedServer } from "../support/servers.js";

/**
 * The example project, migrated while its server is stopped and started again
 * halfway: pgkeel rides out the refused connections and finishes on its own.
 * A server of its own, so the restart disturbs no other test.
 */
let server: EmbeddedServer | undefined;
afterAll(async () => {
  await server?.shutdown();
});

describe("server restart during migrate", () => {
  it("the example project finishes with the right schema", async () => {
    server = await startEmbedded({ keepData: true });
    const cwd = mkdtempSync(join(tmpdir(), "pgkeel-restart-"));
    cpSync(resolve(import.meta.dirname, "../../examples/leads/db"), join(cwd, "db"), { recursive: true });
    // A slow migration in the middle, so "halfway" lasts long enough to hit.
    writeFileSync(join(cwd, "db/migrations/20261127120700_slow_step.sql"), "CREATE TABLE slow_marker (id int);\nSELECT pg_sleep(3);");
    const run = runCli(["migrate", "--url", server.url, "--retry-cap", "1500"], { cwd });
    // Halfway: stop the server while the slow migration runs.
    for (let i = 0; i < 400; i++) {
      const busy = await admin(server.url, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'").catch(() => []);
      if (busy.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await server.stop();
    await new Promise((r) => setTimeout(r, 2000));
    await server.start();
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/retry .*(57P01|ECONNREFUSED|terminat)/);
    const applied = await admin<{ name: string }>(server.url, "SELECT name FROM pgkeel.migrations ORDER BY name");
    expect(applied.map((a) => a.name)).toEqual([
      "20261127120000_create_leads",
      "20261127120500_lead_score_function",
      "20261127120700_slow_step",
      "20261127121000_add_lead_source",
      "20261127121500_seed_demo_leads",
      "20261127122000_add_email_domain",
    ]);
    expect(await admin(server.url, "SELECT count(*)::int AS n, count(DISTINCT email)::int AS d FROM leads")).toEqual([{ n: 2000, d: 2000 }]);
    expect(await admin(server.url, "SELECT enum_range(NULL::lead_status)::text AS r")).toEqual([{ r: "{new,contacted,qualified,won,lost}" }]);
    expect(await admin(server.url, "SELECT count(*)::int AS n FROM lead_sources")).toEqual([{ n: 3 }]);
  });
});
