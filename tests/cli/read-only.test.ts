import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * `status`, `plan` and `doctor` never write (SPEC guarantee 11, issue 8 item 17):
 * they work with a read-only role and with a role that may create nothing, and
 * on a database pgkeel never touched they report everything pending and create
 * nothing.
 */
const project = {
  "db/migrations/001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, v text);",
  "db/indexes/t.sql": "CREATE INDEX t_v_idx ON t (v);",
  "db/backfills/001_fill.sql": "-- pgkeel:backfill table=t key=id batch=10\nUPDATE t SET v = 'x' WHERE id BETWEEN :from AND :to;",
};

let roles = 0;
/** A login role on `url`'s database; `setup` runs as the admin with the role's name. */
async function roleUrl(url: string, setup: (role: string) => string): Promise<string> {
  const role = `pgkeel_ro_${process.pid}_${roles++}`;
  await admin(url, `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'ro-pw'; ${setup(role)}`);
  const u = new URL(url);
  u.username = role;
  u.password = "ro-pw";
  return u.toString();
}

const readOnly = (role: string) => `ALTER ROLE ${role} SET default_transaction_read_only = on;`;
// PUBLIC may not create schemas in a database by default; make sure of it, and of the public schema.
const noCreate = (role: string) => `REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE "${"$db"}" FROM PUBLIC, ${role};`;

async function pgkeelObjects(url: string): Promise<number> {
  const [row] = await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgkeel'");
  return row!.n;
}

describe("read-only commands on a database pgkeel never touched", () => {
  for (const [kind, setup] of [
    ["a role with default_transaction_read_only = on", readOnly],
    ["a role that may create nothing", noCreate],
  ] as const) {
    it(`${kind}: status, plan and doctor succeed, report everything pending, and create nothing`, async () => {
      const url = await freshDatabase("readonly");
      const db = new URL(url).pathname.slice(1);
      const ro = await roleUrl(url, (r) => setup(r).replace("$db", db));
      const cwd = makeProject(project);

      const status = await runCli(["status", "--json", "--url", ro], { cwd });
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        migrations: [{ name: "001_t", state: "pending" }],
        indexes: [{ name: "t_v_idx", state: "missing" }],
        backfills: [{ name: "001_fill", state: "pending" }],
      });
      const plan = await runCli(["plan", "--url", ro], { cwd });
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain("001_t");
      const doctor = await runCli(["doctor", "--json", "--url", ro], { cwd });
      expect(doctor.code, doctor.stderr).toBe(0);
      expect(JSON.parse(doctor.stdout)).toMatchObject({ schemaExists: false, canCreate: kind.includes("create nothing") ? false : expect.any(Boolean) });

      expect(await pgkeelObjects(url)).toBe(0);
    });
  }
});

describe("read-only commands on a database pgkeel has worked on", () => {
  it("a read-only role sees what was applied", async () => {
    const url = await freshDatabase("readonly_done");
    const cwd = makeProject(project);
    const run = await runCli(["run", "--url", url], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const ro = await roleUrl(url, (r) => `${readOnly(r)} GRANT USAGE ON SCHEMA pgkeel TO ${r}; GRANT SELECT ON ALL TABLES IN SCHEMA pgkeel TO ${r};`);
    const status = await runCli(["status", "--json", "--url", ro], { cwd });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      migrations: [{ name: "001_t", state: "applied" }],
      indexes: [{ name: "t_v_idx", state: "valid" }],
      backfills: [{ name: "001_fill", state: "done" }],
    });
  });
});
