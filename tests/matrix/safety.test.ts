import { beforeAll, describe, expect, it } from "vitest";
import { rules } from "../../src/safety/rules/index.js";
import { mustRunOutsideTransaction } from "../../src/sql/classify.js";
import { admin, freshDatabase, serverMajor } from "../support/db.js";
import { claimed, judge, observe } from "../safety/proof-kit.js";
import { baseData, baseDdl, inSchema, sqlMigration } from "../safety/support.js";

/**
 * The safety rules' claims on every supported major (the version matrix): the
 * locks each rule says its statement takes are the ones pg_locks shows, and the
 * rewrites it claims are the ones relfilenode shows. tests/safety/proof.test.ts
 * does the same, and more, on 18.
 */
const major = serverMajor();
/** Rules whose example cannot run here: gen_random_uuid() is built in from 13; DETACH CONCURRENTLY exists from 14. */
const notHere = new Set([...(major < 13 ? ["adding-field-with-default"] : []), ...(major < 14 ? ["require-concurrent-partition-detach"] : [])]);
const inTransaction = rules.filter((r) => !r.hygiene && !["concurrent-index-pg14-corruption", "ban-drop-database", "adding-required-field", "ban-vacuum-full"].includes(r.id) && !notHere.has(r.id));

let url: string;
let n = 0;
beforeAll(async () => {
  url = await freshDatabase("matrix_safety");
  await admin(url, `CREATE SCHEMA tpl; SET search_path = tpl; ${baseDdl} ${baseData}`);
});

async function populated(setup?: string) {
  const schema = `m${n++}`;
  await admin(url, `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${baseDdl}
    INSERT INTO ref SELECT * FROM tpl.ref; INSERT INTO big SELECT * FROM tpl.big; INSERT INTO events SELECT * FROM tpl.events; ${setup ?? ""}`);
  return { schema, url: inSchema(url, schema) };
}

describe.concurrent(`safety claims on PostgreSQL ${major}`, () => {
  it.each(inTransaction.map((r) => [r.id, r] as const))("%s: the claimed lock and rewrite are what the server does", async (_id, rule) => {
    const target = await populated(rule.example.setup);
    const finding = (await judge(target, rule.example.bad)).findings.find((f) => f.rule === rule.id);
    expect(finding, rule.example.bad).toBeDefined();
    const st = (await sqlMigration("bad", rule.example.bad)).statements[0]!;
    expect(mustRunOutsideTransaction(st)).toBe(false);
    const seen = await observe(target, rule.example.bad, "hold");
    expect(seen.error).toBeUndefined();
    expect(Object.fromEntries(claimed(finding!.locks, seen.tables))).toEqual(Object.fromEntries(seen.locks));
    if (finding!.effect === "rewrite") expect([...seen.rewritten]).toContain(finding!.table);
    else if (st.kind !== "TruncateStmt") expect([...seen.rewritten]).toEqual([]);
  });

  it("column type changes: a finding exactly when the relfilenode changes", async () => {
    const changes = [["varchar(20)", "varchar(40)"], ["varchar(40)", "varchar(20)"], ["varchar(20)", "text"], ["int", "bigint"], ["numeric(10,2)", "numeric(12,2)"], ["timestamp", "timestamptz"], ["varchar(10)[]", "text[]"]];
    const schema = `t${n++}`;
    await admin(url, `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${changes.map(([from], i) => `CREATE TABLE tc${i} (id int, c ${from}); INSERT INTO tc${i} SELECT g, NULL FROM generate_series(1, 10) g;`).join("\n")}`);
    const target = { schema, url: inSchema(url, schema) };
    const verdicts: string[] = [];
    for (const [i, [from, to]] of changes.entries()) {
      const sql = `ALTER TABLE tc${i} ALTER COLUMN c TYPE ${to}`;
      const flagged = (await judge(target, sql)).findings.some((f) => f.rule === "changing-column-type");
      const rewrote = (await observe(target, sql, "hold")).rewritten.has(`tc${i}`);
      if (flagged !== rewrote) verdicts.push(`${from} -> ${to}: ${rewrote ? "rewrites" : "no rewrite"} but ${flagged ? "flagged" : "not flagged"}`);
    }
    expect(verdicts).toEqual([]);
  });
});
