import { beforeAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/safety/analyze.js";
import { lockModes, type Rule } from "../../src/safety/types.js";
import { rules } from "../../src/safety/rules/index.js";
import { mustRunOutsideTransaction } from "../../src/sql/classify.js";
import { admin, freshDatabase } from "../support/db.js";
import { claimed, everyRuleOn, judge, observe, waitsForOthers } from "./proof-kit.js";
import { baseData, baseDdl, gatewayFor, inSchema, sqlMigration } from "./support.js";

/**
 * Proof, not belief: every rule's statement runs on the real server against a
 * 50,000-row table while a second session reads pg_locks, and the test fails
 * when the lock the rule claims (on every table) is not the lock taken, or when
 * the rewrite it claims does not change the table's relfilenode (or an
 * unclaimed one does). The safe alternative runs too, is not flagged, and takes
 * the locks `plan` says. One database, populated once; each rule gets a copy.
 */

const proven = rules.filter((r) => !r.hygiene && r.id !== "concurrent-index-pg14-corruption");
/** Rules whose danger is breaking running clients, whatever the size. */
const breaksClients = new Set(["renaming-column", "renaming-table", "ban-drop-column", "ban-drop-table", "ban-truncate-cascade", "require-concurrent-index-deletion", "require-concurrent-partition-detach"]);
/** The one statement that must fail on a table with rows: that is its danger. */
const failsOnRows = new Set(["adding-required-field"]);

let url: string;
let schemaCounter = 0;

beforeAll(async () => {
  url = await freshDatabase("safety_proof");
  await admin(url, `CREATE SCHEMA tpl; SET search_path = tpl; ${baseDdl} ${baseData}`);
});

/** A schema holding a copy of the populated tables, plus the rule's setup. */
async function populated(setup?: string): Promise<{ schema: string; url: string }> {
  const schema = `p${schemaCounter++}`;
  await admin(
    url,
    `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${baseDdl}
     INSERT INTO ref SELECT * FROM tpl.ref; INSERT INTO big SELECT * FROM tpl.big; INSERT INTO events SELECT * FROM tpl.events;
     ${setup ?? ""}`,
  );
  return { schema, url: inSchema(url, schema) };
}

describe.concurrent("every rule, on a real server: the lock it claims is the lock taken", () => {
  it("covers every rule: each non-hygiene rule has a positive and a negative example", () => {
    for (const r of rules) {
      expect(r.id, r.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(r.example.bad, r.id).not.toBe("");
      expect(r.example.good, r.id).not.toBe("");
    }
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    expect(lockModes).toHaveLength(8);
  });

  it.each(proven.map((r) => [r.id, r] as const))("%s: caught with its lock and rewrite on 50,000 rows, not on a new or empty table; the safe alternative is not caught", async (_id, rule: Rule) => {
    const target = await populated(rule.example.setup);
    const badStatement = (await sqlMigration("bad", rule.example.bad)).statements[0]!;
    const outside = mustRunOutsideTransaction(badStatement);

    // Positive: the finding, at error level on a table this size, with the size shown.
    const analysis = await judge(target, rule.example.bad);
    const finding = analysis.findings.find((f) => f.rule === rule.id);
    expect(finding, `${rule.id} not caught in: ${rule.example.bad}\n${JSON.stringify(analysis.findings)}`).toBeDefined();
    expect(finding!.level).toBe("error");
    expect(finding!.fix.length).toBeGreaterThan(10);
    if (finding!.table) expect(finding!.facts!.rows).toBeGreaterThanOrEqual(10_000);

    if (rule.id !== "ban-drop-database") {
      const seen = await observe(target, rule.example.bad, outside || failsOnRows.has(rule.id) ? "wait" : "hold");
      if (failsOnRows.has(rule.id)) expect(seen.error).toMatch(/contains null values/);
      else expect(seen.error).toBeUndefined();
      expect(Object.fromEntries(claimed(finding!.locks, seen.tables)), `claimed locks of ${rule.id}`).toEqual(Object.fromEntries(seen.locks));
      // What plan shows for the statement is the same.
      const planned = analysis.statements[0]!.locks!.map((l) => ({ table: l.table, mode: l.mode }));
      expect(Object.fromEntries(claimed(planned, seen.tables)), `plan's locks for ${rule.example.bad}`).toEqual(Object.fromEntries(seen.locks));
      if (!seen.error && !failsOnRows.has(rule.id)) {
        if (finding!.effect === "rewrite") expect([...seen.rewritten], `${rule.id} claims a rewrite`).toContain(finding!.table);
        // TRUNCATE swaps in new, empty files: a new relfilenode without a rewrite.
        else if (badStatement.kind !== "TruncateStmt") expect([...seen.rewritten], `${rule.id} claims no rewrite`).toEqual([]);
      }
    }

    // Negative: the safe alternative is not caught by this rule, runs, and takes the locks plan says.
    const good = await judge(target, rule.example.good, "002_good");
    expect(good.findings.filter((f) => f.rule === rule.id), rule.example.good).toEqual([]);
    const goodStatement = (await sqlMigration("good", rule.example.good)).statements[0]!;
    const goodOutside = mustRunOutsideTransaction(goodStatement);
    if (goodOutside && !waitsForOthers(goodStatement)) await admin(target.url, rule.example.good);
    else {
      // DETACH ... CONCURRENTLY holds no table lock while it waits out older transactions:
      // it is watched instead while it waits for its lock on the partition.
      const detach = goodStatement.kind === "AlterTableStmt" ? "LOCK TABLE events_2025 IN SHARE UPDATE EXCLUSIVE MODE" : undefined;
      const after = await observe(target, rule.example.good, goodOutside ? "wait" : "hold", detach);
      expect(after.error).toBeUndefined();
      const plannedGood = good.statements[0]!.locks!.map((l) => ({ table: l.table, mode: l.mode }));
      expect(Object.fromEntries(claimed(plannedGood, after.tables)), `plan's locks for ${rule.example.good}`).toEqual(Object.fromEntries(after.locks));
      if (goodStatement.kind !== "TruncateStmt") expect([...after.rewritten], `${rule.example.good} rewrote`).toEqual([]);
    }
    if (rule.id === "ban-drop-database" || rule.id === "session-level-set") return; // no table

    // Context: new in this run (an earlier migration creates the tables): nothing to report.
    const fresh = `n${schemaCounter++}`;
    await admin(url, `CREATE SCHEMA ${fresh}`);
    const gw = gatewayFor(inSchema(url, fresh));
    try {
      const run = [await sqlMigration("001_base", `${baseDdl}${rule.example.setup ? `;\n${rule.example.setup}` : ""}`), await sqlMigration("002_bad", rule.example.bad)];
      const onNew = await analyze(run, gw, everyRuleOn);
      expect(onNew.findings.filter((f) => f.rule === rule.id && f.migration === "002_bad"), "a table created earlier in the run blocks nobody").toEqual([]);
    } finally {
      await gw.close();
    }
    // Empty: no risk from holding a lock over no rows. Changes that break running clients
    // (renames, drops) are still reported, as warnings: below safety.minRows they refuse nothing.
    const empty = `e${schemaCounter++}`;
    await admin(url, `CREATE SCHEMA ${empty}; SET search_path = ${empty}; ${baseDdl}; ${rule.example.setup ?? ""}`);
    const onEmpty = (await judge({ url: inSchema(url, empty) }, rule.example.bad)).findings.filter((f) => f.rule === rule.id);
    expect(onEmpty.map((f) => f.level)).toEqual(breaksClients.has(rule.id) ? ["warning"] : []);
    if (onEmpty.length) expect(onEmpty[0]!.facts).toMatchObject({ state: "existing", rows: 0 });
  });
});


describe("changing-column-type asks the server whether a type change rewrites, and the server agrees", () => {
  const changes: [from: string, to: string][] = [
    ["varchar(20)", "varchar(40)"],
    ["varchar(40)", "varchar(20)"],
    ["varchar(20)", "text"],
    ["text", "varchar(20)"],
    ["int", "bigint"],
    ["bigint", "int"],
    ["numeric(10,2)", "numeric(12,2)"],
    ["numeric(10,2)", "numeric(12,3)"],
    ["timestamp", "timestamptz"],
    ["timestamptz", "timestamp"],
    ["timestamp(3)", "timestamp(6)"],
    ["cidr", "inet"],
    ["varchar(10)[]", "text[]"],
    ["text", "jsonb USING c::jsonb"],
    ["int", "text USING c::text"],
  ];

  it("for each change, a finding exactly when the relfilenode changes", async () => {
    const schema = `t${schemaCounter++}`;
    await admin(url, `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${changes.map(([from], i) => `CREATE TABLE tc${i} (id int, c ${from}); INSERT INTO tc${i} SELECT g, NULL FROM generate_series(1, 10) g;`).join("\n")}`);
    const target = { schema, url: inSchema(url, schema) };
    const verdicts = await Promise.all(
      changes.map(async ([from, to], i) => {
        const sql = `ALTER TABLE tc${i} ALTER COLUMN c TYPE ${to}`;
        const flagged = (await judge(target, sql)).findings.some((f) => f.rule === "changing-column-type");
        const seen = await observe(target, sql, "hold");
        expect(seen.error, sql).toBeUndefined();
        return `${from} -> ${to}: ${seen.rewritten.has(`tc${i}`) ? "rewrites" : "no rewrite"}, ${flagged ? "flagged" : "not flagged"}`;
      }),
    );
    const disagree = verdicts.filter((v) => v.includes("no rewrite, flagged") || v.includes("rewrites, not flagged"));
    expect(disagree, verdicts.join("\n")).toEqual([]);
    // Both kinds occur: the check can fail either way.
    expect(verdicts.some((v) => v.includes("no rewrite"))).toBe(true);
    expect(verdicts.some((v) => v.includes(": rewrites"))).toBe(true);
  });
});

describe("plan's lock column, for statements no rule flags, is the lock the server takes", () => {
  const statements = [
    "CREATE TABLE child (id bigint PRIMARY KEY, big_id bigint REFERENCES big (id))",
    "CREATE TABLE big_copy (LIKE big)",
    "CREATE TRIGGER big_touch BEFORE UPDATE ON big FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    "ALTER TABLE big SET (fillfactor = 90)",
    "ALTER TABLE big ALTER COLUMN n SET STATISTICS 500",
    "ALTER TABLE big ALTER COLUMN code SET DEFAULT 'x'",
    "COMMENT ON TABLE big IS 'fifty thousand rows'",
    "CREATE VIEW big_view AS SELECT big.id, email FROM big JOIN ref ON ref.id = big.ref_id",
    "ANALYZE big",
    "LOCK TABLE ref IN SHARE MODE",
    "INSERT INTO ref SELECT id + 1000 FROM ref",
    "DELETE FROM ref WHERE id > 999",
    "ALTER TABLE big ADD CONSTRAINT big_ref_fk FOREIGN KEY (ref_id) REFERENCES ref (id) NOT VALID",
    "ALTER TABLE big ADD CONSTRAINT big_n_positive CHECK (n > 0) NOT VALID",
    "CREATE INDEX CONCURRENTLY big_created_idx ON big (created_at)",
    "DROP INDEX CONCURRENTLY big_email_idx",
    "REINDEX TABLE CONCURRENTLY ref",
  ];

  it("each statement, in the transaction or while it waits", async () => {
    const target = await populated();
    const wrong: string[] = [];
    for (const sql of statements) {
      const st = (await sqlMigration("s", sql)).statements[0]!;
      const planned = (await judge(target, sql)).statements[0]!.locks!.map((l) => ({ table: l.table, mode: l.mode }));
      const seen = await observe(target, sql, mustRunOutsideTransaction(st) ? "wait" : "hold");
      expect(seen.error, sql).toBeUndefined();
      const [claim, took] = [JSON.stringify([...claimed(planned, seen.tables)].sort()), JSON.stringify([...seen.locks].sort())];
      if (claim !== took) wrong.push(`${sql}: plan says ${claim}, the server took ${took}`);
    }
    expect(wrong).toEqual([]);
  });
});
