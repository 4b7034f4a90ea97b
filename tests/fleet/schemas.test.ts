import { beforeAll, describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { events, fleetFiles, onceCheck, sampleConnections, writeConfig } from "./support.js";

/** Schema-per-tenant: 30 tenant schemas in one database, each with its own tracking. */
describe("fleet of schemas", () => {
  const n = 30;
  const tenants = Array.from({ length: n }, (_, i) => `tenant_${String(i).padStart(2, "0")}`);
  let url = "";

  beforeAll(async () => {
    url = await freshDatabase("fleetschemas");
    await admin(url, tenants.map((t) => `CREATE SCHEMA ${t}`).join(";"));
  });

  it("runs every tenant's migrations in its own schema with its own tracking; a rerun skips them all; status reports each", async () => {
    const dir = makeProject(fleetFiles("s"));
    writeConfig(dir, {
      maxRetries: 2,
      retryCapMs: 50,
      fleets: { tenants: { schemas: { url, sql: "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1" }, canary: ["tenant_00", "tenant_01"], waves: ["50%"], perHost: 8 } },
    });
    // plan --fleet: what run would do, member by member; it writes nothing.
    const plan = await runCli(["plan", "--fleet", "tenants", "--json"], { cwd: dir });
    expect(plan.code, plan.stderr).toBe(0);
    const planned = JSON.parse(plan.stdout) as { members: { schema: string; statements: { migration: string }[] }[] };
    expect(planned.members.map((m) => m.schema)).toEqual(tenants);
    expect(planned.members.every((m) => m.statements.some((st) => st.migration === "s_1_ledger"))).toBe(true);
    const [none] = await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'pgkeel%'");
    expect(none!.n).toBe(0);

    const sampler = sampleConnections([url]);
    const r = await runCli(["run", "--fleet", "tenants", "--json"], { cwd: dir });
    const seen = await sampler.stop();
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r.stdout);
    expect(ev[0]).toMatchObject({ type: "fleet-start", members: n, waves: [{ name: "canary", members: 2 }, { name: "wave 1", members: 15 }, { name: "wave 2", members: 13 }] });
    expect(ev.at(-1)).toMatchObject({ type: "fleet-done", exit: 0, counts: { done: n, failed: 0 } });
    for (const t of tenants) expect(await onceCheck(url, "s", t)).toEqual({ ledger: 1, wrong: 0, rows: 120 });
    // Nothing landed in public; each tenant's tracking is in its own state schema.
    const [pub] = await admin<{ ledger: string | null }>(url, "SELECT to_regclass('public.ledger')::text AS ledger");
    expect(pub!.ledger).toBeNull();
    const tracked = await admin<{ schema: string; n: number }>(url, "SELECT nspname AS schema, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.migrations', nspname), false, true, '')))[1]::text::int AS n FROM pg_namespace WHERE nspname LIKE 'pgkeel\\_tenant\\_%' ORDER BY 1");
    expect(tracked).toEqual(tenants.map((t) => ({ schema: `pgkeel_${t}`, n: 2 })));
    expect(seen.peak).toBeLessThanOrEqual(8);

    const again = await runCli(["run", "--fleet", "tenants", "--json"], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(events(again.stdout).at(-1)).toMatchObject({ type: "fleet-done", counts: { done: 0, skipped: n } });

    const s = await runCli(["status", "--fleet", "tenants", "--json"], { cwd: dir });
    expect(s.code, s.stderr).toBe(0);
    const st = JSON.parse(s.stdout) as { members: { schema: string; state: string; indexes: { state: string }[] }[] };
    expect(st.members.map((m) => [m.schema, m.state])).toEqual(tenants.map((t) => [t, "done"]));
    expect(st.members.every((m) => m.indexes.every((i) => i.state === "valid"))).toBe(true);
  });

  it("a tenant schema that does not exist is that member's failure, and nothing lands in another schema", async () => {
    const dir = makeProject(fleetFiles("s"));
    writeConfig(dir, { fleets: { tenants: { schemas: { url, list: ["tenant_00", "no_such_tenant"] }, canary: 0 } } });
    const r = await runCli(["migrate", "--fleet", "tenants"], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/failed\s+2\s+no_such_tenant \(postgres:\/\/.*schema no_such_tenant does not exist/);
    const [pub] = await admin<{ ledger: string | null }>(url, "SELECT to_regclass('public.ledger')::text AS ledger");
    expect(pub!.ledger).toBeNull();
  });
});
