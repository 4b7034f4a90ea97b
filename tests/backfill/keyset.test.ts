import { beforeAll, describe, expect, it } from "vitest";
import { nextBatchSql, readNextBatch, type KeyInfo } from "../../src/phases/backfill/keyset.js";
import { admin, freshDatabase } from "../support/db.js";

/**
 * The next batch's bounds are planned in every batch's message, so what that
 * query reads is paid once per batch: it must walk the key's index once, `size`
 * entries, never materialise the keys or walk them twice.
 */
const key: KeyInfo = {
  rel: "public.counters",
  column: "id",
  type: "bigint",
  typname: "int8",
  estimatedRows: 10_000,
  names: { schema: "public", table: "counters", column: "id" },
};

let url: string;
beforeAll(async () => {
  url = await freshDatabase("bf_keyset");
  // Keys 3, 6, ..., 30000: gaps, so a key count and a key distance differ.
  await admin(url, "CREATE TABLE counters (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0); INSERT INTO counters (id) SELECT g * 3 FROM generate_series(1, 10000) g");
  await admin(url, "VACUUM ANALYZE counters");
});

const plan = async (position: string | null, hi: string | null, size: number) => readNextBatch((await admin(url, nextBatchSql(key, { position, hi }, size)))[0] as never);

describe("next batch bounds", () => {
  it.each([
    ["from the start", null, null, 100, { from: "3", to: "300", n: 100 }],
    ["after a position", "300", null, 100, { from: "303", to: "600", n: 100 }],
    ["a single key", "300", null, 1, { from: "303", to: "303", n: 1 }],
    ["a window's tail, shorter than a batch", "29700", null, 500, { from: "29703", to: "30000", n: 100 }],
    ["bounded by the range's end", "300", "450", 500, { from: "303", to: "450", n: 50 }],
    ["exactly a batch left", "29700", null, 100, { from: "29703", to: "30000", n: 100 }],
  ] as const)("%s", async (_, position, hi, size, expected) => {
    expect(await plan(position, hi, size)).toEqual(expected);
  });

  it("nothing left: no batch", async () => {
    expect(await plan("30000", null, 100)).toBeUndefined();
    expect(await plan("300", "301", 100)).toBeUndefined();
  });

  it("walks the index once: about `size` entries read, whatever the table holds", async () => {
    type Node = { "Node Type": string; "Actual Rows": number; "Actual Loops": number; Plans?: Node[] };
    const explain = async (position: string, size: number) =>
      (await admin<{ "QUERY PLAN": [{ Plan: Node }] }>(url, `EXPLAIN (ANALYZE, FORMAT JSON) ${nextBatchSql(key, { position, hi: null }, size)}`))[0]!["QUERY PLAN"][0].Plan;
    const nodes = (n: Node): Node[] => [n, ...(n.Plans ?? []).flatMap(nodes)];
    const read = async (position: string, size: number) =>
      nodes(await explain(position, size)).reduce((s, n) => s + (n["Node Type"].startsWith("Index") ? n["Actual Rows"] * n["Actual Loops"] : 0), 0);
    // Mid-table: the first key, and the walk to the size-th.
    expect(await read("3000", 2000)).toBeLessThanOrEqual(2000 + 1);
    // ... and nothing above the index scans carries more than one row (no keys kept, sorted or counted).
    const carried = nodes(await explain("3000", 2000)).filter((n) => !n["Node Type"].startsWith("Index") && n["Actual Rows"] > 1);
    expect(carried.map((n) => `${n["Node Type"]}: ${n["Actual Rows"]} rows`)).toEqual([]);
    // At the tail (100 keys left): the walk and the count of what is left, then the first and last keys.
    expect(await read("29700", 2000)).toBeLessThanOrEqual(2 * 100 + 2);
  });
});
