import { beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { admin, freshDatabase, serverUrl, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { issueStatements, until } from "./support.js";

/**
 * The issue's "done when": on a 50,000-row `leads` (with `lead_notes`
 * referencing it) this file's eight dangers are each found with the right lock
 * and a safe alternative that works when applied for real; the statement that
 * is safe on the running server is not flagged; `migrate` refuses the file
 * (exit 6) and accepts it once each finding is allowed.
 */

const statements = issueStatements;
const file = statements.join("\n") + "\n";

/** Line (1-based) -> rule, and the locks each must name. */
const expected: Record<number, { rule: string; locks: { table: string; mode: string }[] }> = {
  2: { rule: "changing-column-type", locks: [{ table: "leads", mode: "ACCESS EXCLUSIVE" }] },
  3: { rule: "require-concurrent-index-creation", locks: [{ table: "leads", mode: "SHARE" }] },
  4: { rule: "constraint-missing-not-valid", locks: [{ table: "leads", mode: "ACCESS EXCLUSIVE" }] },
  5: { rule: "adding-not-nullable-field", locks: [{ table: "lead_notes", mode: "ACCESS EXCLUSIVE" }] },
  6: { rule: "ban-drop-column", locks: [{ table: "leads", mode: "ACCESS EXCLUSIVE" }] },
  7: { rule: "data-change-in-migration", locks: [{ table: "leads", mode: "ROW EXCLUSIVE" }] },
  8: { rule: "renaming-column", locks: [{ table: "leads", mode: "ACCESS EXCLUSIVE" }] },
  9: {
    rule: "adding-foreign-key-constraint",
    locks: [
      { table: "lead_notes", mode: "SHARE ROW EXCLUSIVE" },
      { table: "leads", mode: "SHARE ROW EXCLUSIVE" },
    ],
  },
};

interface JsonFinding {
  rule: string;
  level: string;
  line: number;
  locks: { table: string; mode: string }[];
  fix: string;
  facts: { rows?: number };
}

let template: string;

/** A database copied from the populated template. */
async function copy(prefix: string): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  await admin(withDatabase(serverUrl(), "postgres"), `CREATE DATABASE "${name}" TEMPLATE "${new URL(template).pathname.slice(1)}"`);
  return withDatabase(serverUrl(), name);
}

beforeAll(async () => {
  template = await freshDatabase("safety_done_tpl");
  await admin(
    template,
    `CREATE TABLE leads (id bigserial PRIMARY KEY, email text, name text);
     CREATE TABLE lead_notes (id bigserial PRIMARY KEY, lead_id bigint, body text);
     INSERT INTO leads (email, name) SELECT 'u' || g || '@example.com', 'Lead ' || g FROM generate_series(1, 50000) g;
     INSERT INTO lead_notes (lead_id, body) SELECT g, 'note ' || g FROM generate_series(1, 50000) g;`,
  );
});

describe("the issue's file on 50,000 rows", () => {
  it("lint finds the eight dangers with the right locks, not the statement that is safe on this server; exit 6", async () => {
    const url = await copy("safety_done_lint");
    const cwd = makeProject({ "db/migrations/001_leads.sql": file });
    const r = await runCli(["lint", "--url", url, "--format", "json"], { cwd });
    expect(r.code, r.stderr).toBe(6);
    const out = JSON.parse(r.stdout) as { findings: JsonFinding[]; serverVersion: number };
    expect(out.serverVersion).toBeGreaterThanOrEqual(110000);
    const byLine = Object.fromEntries(out.findings.map((f) => [f.line, f]));
    expect(Object.keys(byLine).map(Number).sort()).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    for (const [line, want] of Object.entries(expected)) {
      const f = byLine[line]!;
      expect(f.rule, `line ${line}`).toBe(want.rule);
      expect(f.level).toBe("error");
      expect(f.locks).toEqual(want.locks);
      expect(f.facts.rows).toBeGreaterThanOrEqual(10_000);
    }
    // Nothing ran: lint only reads.
    expect(await admin(url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'leads' AND column_name = 'tier'")).toEqual([{ n: 0 }]);
  });

  it("migrate refuses it (exit 6) naming file, line, rule, lock, size and fix, and applies nothing; --allow-unsafe lets it through, printing each", async () => {
    const url = await copy("safety_done_migrate");
    const cwd = makeProject({ "db/migrations/001_leads.sql": file });
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toContain("db/migrations/001_leads.sql:9:1: error adding-foreign-key-constraint");
    expect(r.stderr).toMatch(/lock: SHARE ROW EXCLUSIVE on lead_notes, SHARE ROW EXCLUSIVE on leads; lead_notes: (~|at least )[\d,]+ rows/);
    expect(r.stderr).toContain("ALTER TABLE lead_notes VALIDATE CONSTRAINT fk2;");
    expect(r.stderr).toContain("db/migrations/001_leads.sql:2:1: error changing-column-type");
    expect(r.stderr).not.toContain("001_leads.sql:1:1");
    expect(await admin(url, "SELECT to_regclass('pgkeel.migrations') IS NULL OR NOT EXISTS (SELECT 1 FROM pgkeel.migrations) AS nothing")).toEqual([{ nothing: true }]);

    const forced = await runCli(["migrate", "--url", url, "--allow-unsafe"], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr.match(/--allow-unsafe let this through/g)).toHaveLength(8);
    expect(await admin(url, "SELECT count(*)::int AS n FROM leads WHERE tier = 1")).toEqual([{ n: 50_000 }]);
  });

  it("migrate accepts it once each finding is allowed (file-wide and per statement)", async () => {
    const url = await copy("safety_done_allow");
    const allowed = [
      "-- pgkeel:allow ban-drop-column the name column is unused since release 41",
      "-- pgkeel:allow renaming-column clients read through the leads_v view",
      statements[0],
      `-- pgkeel:allow changing-column-type the table is small in every environment\n${statements[1]}`,
      `-- pgkeel:allow require-concurrent-index-creation built during the maintenance window\n${statements[2]}`,
      `-- pgkeel:allow constraint-missing-not-valid maintenance window\n${statements[3]}`,
      `/* several lines of explanation\n   before the directive */\n-- pgkeel:allow adding-not-nullable-field maintenance window\n${statements[4]}`,
      statements[5],
      `-- pgkeel:allow data-change-in-migration 50k rows, measured at 0.4 s\n${statements[6]}`,
      statements[7],
      `-- pgkeel:allow adding-foreign-key-constraint maintenance window\n${statements[8]}`,
    ].join("\n");
    const cwd = makeProject({ "db/migrations/001_leads.sql": allowed });
    const plan = await runCli(["plan", "--url", url], { cwd });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain("allowed renaming-column");
    const r = await runCli(["migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await admin(url, "SELECT count(*)::int AS n FROM leads WHERE tier = 1")).toEqual([{ n: 50_000 }]);
  });

  it("every safe alternative works when applied for real, and pgkeel itself then refuses nothing", async () => {
    const url = await copy("safety_done_fix");
    const cwd = makeProject({ "db/migrations/001_leads.sql": file });
    const lint = JSON.parse((await runCli(["lint", "--url", url, "--format", "json"], { cwd })).stdout) as { findings: JsonFinding[] };
    expect(lint.findings).toHaveLength(8);
    const dbs: string[] = [];
    for (const f of lint.findings) {
      const db = await copy("safety_done_alt");
      // The statements before the flagged one, as they would have run.
      await admin(db, statements.slice(0, f.line - 1).join("\n"));
      dbs.push(db);
    }
    await Promise.all(
      lint.findings.map(async (f, i) => {
        const r = await runCli(["run", "--url", dbs[i]!], { cwd: makeProject(projectFromFix(f.fix)) });
        expect(r.code, `${f.rule}: ${r.stderr}\n${f.fix}`).toBe(0);
        expect(await endState(dbs[i]!, f.rule), f.rule).toBe(true);
      }),
    );
  });

  it("plan shows each finding under its statement, and the session that would block it right now", async () => {
    const url = await copy("safety_done_plan");
    const cwd = makeProject({ "db/migrations/001_leads.sql": file });
    const holder = new pg.Client({ connectionString: url, application_name: "report-job" });
    await holder.connect();
    try {
      await holder.query("BEGIN; SELECT count(*) FROM lead_notes");
      await until("the holder to sit idle in its transaction", async () => (await admin(url, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'report-job' AND state = 'idle in transaction'")).length > 0);
      const r = await runCli(["plan", "--url", url], { cwd });
      expect(r.code, r.stderr).toBe(0);
      const gate = await runCli(["plan", "--check", "--url", url], { cwd });
      expect(gate.code, gate.stderr).toBe(6);
      expect(gate.stderr).toContain("check: 8 pending statements would be refused as unsafe (exit 6)");
      expect(r.stdout).toMatch(/line 5: AlterTableStmt, lock ACCESS EXCLUSIVE on lead_notes\n\s+db\/migrations\/001_leads.sql:5:1: error adding-not-nullable-field/);
      expect(r.stdout).toMatch(/line 5:[\s\S]*?blocked now by pid \d+ \(\w+, report-job, idle in transaction, transaction open \d+ s\) holds ACCESS SHARE/);
      // Statement 7 only takes ROW EXCLUSIVE on leads: the reader of lead_notes is not in its way.
      const line7 = r.stdout.slice(r.stdout.indexOf("line 7:"), r.stdout.indexOf("line 8:"));
      expect(line7).not.toContain("blocked now");
      const json = JSON.parse((await runCli(["plan", "--url", url, "--json"], { cwd })).stdout) as { statements: { line: number; findings: { rule: string }[]; blockedBy: { application: string }[] }[] };
      expect(json.statements.map((s) => s.findings.map((f) => f.rule))).toEqual([[], ...Object.values(expected).map((e) => [e.rule])]);
      expect(json.statements.find((s) => s.line === 5)!.blockedBy.map((b) => b.application)).toEqual(["report-job"]);
      // SHARE ROW EXCLUSIVE does not wait for readers.
      expect(json.statements.find((s) => s.line === 9)!.blockedBy).toEqual([]);
    } finally {
      await holder.end();
    }
  });
});

/**
 * A fix, as files: its parts separated by `-- then ...` / `-- and ...` lines
 * are consecutive migrations; a part with a `-- pgkeel:backfill` header is a
 * backfill file.
 */
function projectFromFix(fix: string): Record<string, string> {
  const parts: string[][] = [[]];
  for (const line of fix.split("\n")) {
    if (/^-- (then|and)\b/.test(line)) parts.push([]);
    parts.at(-1)!.push(line);
  }
  const files: Record<string, string> = {};
  parts.forEach((lines, i) => {
    const header = lines.findIndex((l) => l.startsWith("-- pgkeel:backfill"));
    if (header >= 0) files[`db/backfills/2026010100000${i}_fix.sql`] = lines.slice(header).join("\n") + "\n";
    else if (lines.some((l) => l.trim() && !l.startsWith("--"))) files[`db/migrations/2026010100000${i}_fix.sql`] = lines.join("\n") + "\n";
  });
  return files;
}

async function endState(url: string, rule: string): Promise<boolean> {
  const q = async (sql: string) => Object.values((await admin(url, sql))[0] ?? {})[0];
  switch (rule) {
    case "changing-column-type":
      return (await q("SELECT convalidated FROM pg_constraint WHERE conname = 'leads_email_length'")) === true;
    case "require-concurrent-index-creation":
      return (await q("SELECT indisvalid FROM pg_index WHERE indexrelid = 'leads_name_idx'::regclass")) === true;
    case "constraint-missing-not-valid":
      return (await q("SELECT convalidated FROM pg_constraint WHERE conname = 'leads_tier_chk'")) === true;
    case "adding-not-nullable-field":
      return (await q("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'lead_notes'::regclass AND attname = 'body'")) === true;
    case "ban-drop-column":
      return (await q("SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'leads'::regclass AND attname = 'name' AND NOT attisdropped")) === 0;
    case "data-change-in-migration":
      return (await q("SELECT count(*)::int FROM leads WHERE tier = 1")) === 50_000;
    case "renaming-column":
      await admin(url, "INSERT INTO leads (email) VALUES ('old@example.com'); INSERT INTO leads (email_address) VALUES ('new@example.com')");
      return (await q("SELECT count(*)::int FROM leads WHERE email IS NOT DISTINCT FROM email_address AND email LIKE '%@example.com' AND id > 50000")) === 2;
    case "adding-foreign-key-constraint":
      return (await q("SELECT convalidated FROM pg_constraint WHERE conname = 'fk2'")) === true;
    default:
      return false;
  }
}

