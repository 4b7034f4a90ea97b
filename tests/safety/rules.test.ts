import { describe, expect, it } from "vitest";
import { rules } from "../../src/safety/rules/index.js";
import type { Rule, StatementContext, TableFacts } from "../../src/safety/types.js";
import { parseSqlFile } from "../../src/sql/split.js";

/**
 * Version-dependent rules, judged with a stated server version (the suite's
 * server is PostgreSQL 18: these cases cannot run on it), and the hygiene rules.
 */

function ctx(serverVersion: number | undefined, over: Partial<StatementContext> = {}): StatementContext {
  const existing: TableFacts = { state: "existing", rows: 50_000 };
  return {
    serverVersion,
    online: serverVersion !== undefined,
    transactional: true,
    table: () => existing,
    indexTable: () => ({ name: "big" }),
    provesNotNull: () => false,
    isVolatile: () => false,
    typeChangeRewrites: () => ({ rewrites: true, from: "integer" }),
    primaryKey: () => "id",
    addedNotValidHere: () => undefined,
    columnType: () => "text",
    ...over,
  };
}

const rule = (id: string): Rule => rules.find((r) => r.id === id)!;

async function check(id: string, sql: string, c: StatementContext) {
  const [s] = (await parseSqlFile(sql, "t.sql")).statements;
  return rule(id).check(s!, c);
}

describe("rules that depend on the server version", () => {
  it("concurrent index builds on PostgreSQL 14.0 to 14.3 (index corruption), not on 14.4 or later, nor without a version", async () => {
    for (const sql of ["CREATE INDEX CONCURRENTLY big_n ON big (n)", "REINDEX INDEX CONCURRENTLY big_email_idx"]) {
      for (const v of [140000, 140002, 140003]) expect(await check("concurrent-index-pg14-corruption", sql, ctx(v)), `${sql} on ${v}`).toHaveLength(1);
      for (const v of [130010, 140004, 170002, 180001, undefined]) expect(await check("concurrent-index-pg14-corruption", sql, ctx(v)), `${sql} on ${v}`).toEqual([]);
    }
    const [m] = await check("concurrent-index-pg14-corruption", "CREATE INDEX CONCURRENTLY big_n ON big (n)", ctx(140002));
    expect(m!.message).toContain("PostgreSQL 14.2");
    expect(m!.locks).toEqual([{ table: { name: "big" }, mode: "SHARE UPDATE EXCLUSIVE" }]);
  });

  it("a constant DEFAULT is free from PostgreSQL 11, a volatile one never is", async () => {
    const add = "ALTER TABLE big ADD COLUMN tier int NOT NULL DEFAULT 0";
    expect(await check("adding-field-with-default", add, ctx(100023))).toHaveLength(1);
    expect(await check("adding-field-with-default", add, ctx(110000))).toEqual([]);
    const uuid = "ALTER TABLE big ADD COLUMN token uuid DEFAULT gen_random_uuid()";
    expect(await check("adding-field-with-default", uuid, ctx(180000, { isVolatile: () => true }))).toHaveLength(1);
    expect(await check("adding-field-with-default", uuid, ctx(180000, { isVolatile: () => false }))).toEqual([]);
  });

  it("SET NOT NULL is free from PostgreSQL 12 when a validated CHECK proves it; the fix says how", async () => {
    const sql = "ALTER TABLE big ALTER COLUMN note SET NOT NULL";
    expect(await check("adding-not-nullable-field", sql, ctx(180000, { provesNotNull: () => true }))).toEqual([]);
    const [m] = await check("adding-not-nullable-field", sql, ctx(110000));
    expect(m!.fix).toContain("keep the CHECK constraint instead");
    const [modern] = await check("adding-not-nullable-field", sql, ctx(180000));
    expect(modern!.fix).toContain("ALTER TABLE big ALTER COLUMN note SET NOT NULL;  -- no scan");
  });

  it("DETACH PARTITION CONCURRENTLY exists from PostgreSQL 14: not asked of older servers", async () => {
    const sql = "ALTER TABLE events DETACH PARTITION events_2025";
    expect(await check("require-concurrent-partition-detach", sql, ctx(130000))).toEqual([]);
    expect(await check("require-concurrent-partition-detach", sql, ctx(140000))).toHaveLength(1);
  });

  it("hygiene rules catch their types in CREATE TABLE and ADD COLUMN, and not the preferred ones", async () => {
    for (const r of rules.filter((x) => x.hygiene)) {
      expect(await check(r.id, r.example.bad, ctx(180000)), r.example.bad).toHaveLength(1);
      expect(await check(r.id, r.example.good, ctx(180000)), r.example.good).toEqual([]);
    }
    expect(await check("prefer-timestamptz", "ALTER TABLE big ADD COLUMN seen_at timestamp(3)", ctx(undefined))).toHaveLength(1);
  });

  it("safe alternatives quote the user's identifiers as SQL needs", async () => {
    const [m] = await check("constraint-missing-not-valid", `ALTER TABLE "Lead Notes" ADD CONSTRAINT "Body Set" CHECK ("Body" <> '')`, ctx(180000));
    expect(m!.fix).toContain(`ALTER TABLE "Lead Notes" ADD CONSTRAINT "Body Set" CHECK ("Body" <> '') NOT VALID;`);
    expect(m!.fix).toContain(`ALTER TABLE "Lead Notes" VALIDATE CONSTRAINT "Body Set";`);
  });
});
