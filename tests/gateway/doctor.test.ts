import { describe, expect, it } from "vitest";
import { bouncerSkip, bouncerUrl, freshDatabase, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

describe("pgkeel doctor --json", () => {
  it("direct connection: pooler none, with version, tls and round-trip time", async () => {
    const url = await freshDatabase("doctor_direct");
    const r = await runCli(["doctor", "--json", "--url", url], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ pooler: "none", tls: false, canCreate: true });
    expect(report.serverVersion).toMatch(/^\d+/);
    expect(report.rttMs).toBeGreaterThan(0);
  });

  it("through PgBouncer in transaction mode: pooler transaction", async (ctx) => {
    if (bouncerSkip()) ctx.skip();
    const db = new URL(await freshDatabase("doctor_bouncer")).pathname.slice(1);
    const r = await runCli(["doctor", "--json", "--url", withDatabase(bouncerUrl(), db)], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pooler: "transaction" });
  });

  it("embedded PGlite when no URL is given, announced in the first line", async () => {
    const cwd = makeProject({});
    const r = await runCli(["doctor", "--json"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split("\n")[0]).toContain("embedded PGlite database");
    expect(r.stderr.split("\n")[0]).toContain(".pgkeel/pglite");
    expect(JSON.parse(r.stdout)).toMatchObject({ pooler: "none", tls: false });
  });
});
