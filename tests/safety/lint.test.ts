import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import AjvModule from "ajv-draft-04";
import formatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

const require = createRequire(import.meta.url);
// CommonJS packages: their default export sits one level down under NodeNext.
const Ajv = AjvModule.default;
const addFormats = formatsModule.default;
/** The OASIS SARIF 2.1.0 schema (rtm.5, the final one), as Microsoft's SARIF SDK ships it. */
const sarifSchema = JSON.parse(readFileSync(require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8")) as object;

// No transaction: there a plain SET ends with its own statement (in a transaction pgkeel makes it local, and no rule fires).
const risky = [
  "-- pgkeel:no-transaction",
  "ALTER TABLE accounts ADD CONSTRAINT accounts_balance_positive CHECK (balance >= 0);",
  "CREATE INDEX accounts_owner_idx ON accounts (owner);",
  "SET statement_timeout = 0;",
].join("\n");

describe("pgkeel lint", () => {
  it("without a database: text with file:line:col, rule, message and fix; sizes unknown; exit 6; nothing connects", async () => {
    const cwd = makeProject({ "db/migrations/001_accounts.sql": risky });
    const r = await runCli(["lint"], { cwd });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout).toContain("db/migrations/001_accounts.sql:2:1: error constraint-missing-not-valid: CHECK constraint accounts_balance_positive is validated at once");
    expect(r.stdout).toContain("lock: ACCESS EXCLUSIVE on accounts; accounts: table size unknown (no database)");
    expect(r.stdout).toContain("ALTER TABLE accounts ADD CONSTRAINT accounts_balance_positive CHECK (balance >= 0) NOT VALID;");
    expect(r.stdout).toContain("db/migrations/001_accounts.sql:4:1: error session-level-set");
    expect(r.stdout).toContain("-- pgkeel:statement-timeout 0");
    expect(r.stdout).toContain("3 findings (3 refusing), no database: table sizes unknown");
    expect(r.stderr).not.toContain("target");
    expect(r.stderr).not.toContain("PGlite");
  });

  it("--format sarif is valid SARIF 2.1.0 against the official schema, with every rule and each result placed", async () => {
    const cwd = makeProject({ "db/migrations/001_accounts.sql": risky });
    const r = await runCli(["lint", "--format", "sarif"], { cwd });
    expect(r.code).toBe(6);
    const log = JSON.parse(r.stdout) as { runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; level: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[] }[] };
    // unicodeRegExp off: the schema's language pattern has a stray "]" that only non-unicode regular expressions accept.
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats(ajv);
    const validate = ajv.compile(sarifSchema);
    expect(validate(log), JSON.stringify(validate.errors, null, 1)).toBe(true);
    // The check can fail: a broken log is refused.
    expect(validate({ ...log, version: "2.0.0" })).toBe(false);
    expect(log.runs[0]!.results.map((x) => [x.ruleId, x.level, x.locations[0]!.physicalLocation.region.startLine])).toEqual([
      ["constraint-missing-not-valid", "error", 2],
      ["require-concurrent-index-creation", "error", 3],
      ["session-level-set", "error", 4],
    ]);
    expect(log.runs[0]!.tool.driver.rules.map((x) => x.id)).toContain("adding-foreign-key-constraint");
  });

  it("--format github prints workflow annotations; --format json one object; allowed findings do not fail the run", async () => {
    const cwd = makeProject({
      "db/migrations/001_accounts.sql": `-- pgkeel:allow session-level-set the role has no timeout anyway\n${risky.replace("CREATE INDEX", "-- pgkeel:allow require-concurrent-index-creation tiny table\nCREATE INDEX")}`,
    });
    const gh = await runCli(["lint", "--format", "github"], { cwd });
    expect(gh.code).toBe(6);
    const lines = gh.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^::error file=db\/migrations\/001_accounts\.sql,line=3,col=1,title=pgkeel constraint-missing-not-valid::CHECK constraint accounts_balance_positive/);
    expect(lines[0]).toContain("%0Afix:%0AALTER TABLE accounts ADD CONSTRAINT");
    expect(lines[1]).toMatch(/^::notice file=db\/migrations\/001_accounts\.sql,line=5,col=1,title=pgkeel require-concurrent-index-creation::.* allowed: tiny table/);
    expect(lines).toHaveLength(3);
    const json = JSON.parse((await runCli(["lint", "--format", "json"], { cwd })).stdout) as { findings: { rule: string; allowed?: string }[] };
    expect(json.findings.map((f) => [f.rule, f.allowed ?? null])).toEqual([
      ["constraint-missing-not-valid", null],
      ["require-concurrent-index-creation", "tiny table"],
      ["session-level-set", "the role has no timeout anyway"],
    ]);
    const onlyAllowed = makeProject({ "db/migrations/001.sql": "-- pgkeel:allow ban-drop-column gone since v3\nALTER TABLE accounts DROP COLUMN legacy;" });
    expect((await runCli(["lint"], { cwd: onlyAllowed })).code).toBe(0);
  });

  it("an unknown rule id, a missing reason or a misplaced allow is bad input: exit 1 at file:line:col", async () => {
    const cases: [string, RegExp][] = [
      ["-- pgkeel:allow no-such-rule because\nSELECT 1;", /001\.sql:1:1: pgkeel:allow names an unknown rule "no-such-rule"/],
      ["SELECT 1;\n-- pgkeel:allow ban-drop-column\nALTER TABLE t DROP COLUMN c;", /001\.sql:2:1: pgkeel:allow ban-drop-column needs a reason/],
      ["SELECT 1;\n\n-- pgkeel:allow ban-drop-column reason\n\nALTER TABLE t DROP COLUMN c;", /001\.sql:3:1: pgkeel:allow must be at the top of the file .* or on the line right before/],
    ];
    for (const [text, message] of cases) {
      const cwd = makeProject({ "db/migrations/001.sql": text });
      const r = await runCli(["lint"], { cwd });
      expect(r.code, text).toBe(1);
      expect(r.stderr).toMatch(message);
      expect((await runCli(["migrate"], { cwd })).code, "migrate refuses it too, before anything runs").toBe(1);
    }
  });

  it("with a URL: the database's context; only pending migrations; a table this run creates is no risk; nothing is written", async () => {
    const url = await freshDatabase("safety_lint");
    await admin(url, "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance int); INSERT INTO accounts SELECT g, 'o' || g, g FROM generate_series(1, 20000) g; CREATE TABLE tiny (id int)");
    const cwd = makeProject({
      "db/migrations/001_accounts.sql": risky.replace("SET statement_timeout = 0;", ""),
      "db/migrations/002_new.sql": "CREATE TABLE fresh (id int, v text);\nCREATE INDEX fresh_v ON fresh (v);\nALTER TABLE fresh ADD CONSTRAINT fresh_v_check CHECK (v <> '');",
      "db/migrations/003_tiny.sql": "ALTER TABLE tiny RENAME COLUMN id TO tiny_id;",
    });
    const r = await runCli(["lint", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout).toMatch(/accounts: (~|at least )[\d,]+ rows, [\d.]+ [kM]B/);
    expect(r.stdout).not.toContain("002_new.sql");
    // A rename breaks clients whatever the size, but on an empty table it refuses nothing.
    expect(r.stdout).toContain("db/migrations/003_tiny.sql:1:1: warning renaming-column");
    expect(r.stdout).toMatch(/2 findings \(2 refusing\)|3 findings \(2 refusing\)/);
    expect(await admin(url, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgkeel'")).toEqual([{ n: 0 }]);
    // Named files are judged in migration order, whatever the order given.
    const named = await runCli(["lint", "--url", url, "db/migrations/002_new.sql", "db/migrations/003_tiny.sql"], { cwd });
    expect(named.code, named.stderr).toBe(0);
  });

  it("with a URL and nothing to ask the database (only new tables, a DO block, nothing pending): still names the server's version", async () => {
    const url = await freshDatabase("safety_lint_version");
    const [{ v }] = await admin<{ v: number }>(url, "SELECT current_setting('server_version_num')::int AS v");
    const cwd = makeProject({ "db/migrations/001_new.sql": "CREATE TABLE fresh (id int);\nDO $$ BEGIN PERFORM 1; END $$;" });
    const json = await runCli(["lint", "--url", url, "--format", "json"], { cwd });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ online: true, serverVersion: v });
    const text = await runCli(["lint", "--url", url], { cwd });
    expect(text.stdout).toContain(`0 findings (0 refusing), PostgreSQL ${Math.floor(v / 10000)}.`);
    expect(text.stdout).not.toContain("unknown");
  });

  it("config: safety.minRows raises the threshold; safety.rules turns hygiene rules on and others off; unknown ids are config errors", async () => {
    const url = await freshDatabase("safety_cfg");
    await admin(url, "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance int); INSERT INTO accounts SELECT g, 'o' || g, g FROM generate_series(1, 20000) g");
    const files = { "db/migrations/001_accounts.sql": `${risky.replace("SET statement_timeout = 0;", "")}\nCREATE TABLE audit (id serial PRIMARY KEY, at timestamp);` };
    const high = makeProject({ ...files, "pgkeel.config.json": JSON.stringify({ safety: { minRows: 100000 } }) });
    const r = await runCli(["lint", "--url", url, "--format", "json"], { cwd: high });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { findings: { level: string }[] }).findings.map((f) => f.level)).toEqual(["warning", "warning"]);
    const hygiene = makeProject({ ...files, "pgkeel.config.json": JSON.stringify({ safety: { rules: { "prefer-identity": "warning", "prefer-timestamptz": "error", "require-concurrent-index-creation": "off" } } }) });
    const h = JSON.parse((await runCli(["lint", "--url", url, "--format", "json"], { cwd: hygiene })).stdout) as { findings: { rule: string; level: string }[] };
    expect(h.findings.map((f) => `${f.rule}:${f.level}`)).toEqual(["constraint-missing-not-valid:error", "prefer-identity:warning", "prefer-timestamptz:error"]);
    const bad = makeProject({ ...files, "pgkeel.config.json": JSON.stringify({ safety: { rules: { "prefer-everything": "error" } } }) });
    const b = await runCli(["lint"], { cwd: bad });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('unknown rule "prefer-everything"');
    const shape = makeProject({ ...files, "pgkeel.config.json": JSON.stringify({ safety: { minRows: -1 } }) });
    expect((await runCli(["lint"], { cwd: shape })).code).toBe(2);
  });
});
