import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Every statement goes through the gateway: only src/gateway and the driver
 * adapters in src/db may import a database driver.
 */
const src = join(import.meta.dirname, "../src");
const drivers = ["pg", "@electric-sql/pglite", "pg-protocol", "postgres"];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("architecture", () => {
  it("no code outside src/gateway and src/db imports a driver", () => {
    const offenders: string[] = [];
    for (const f of files(src)) {
      const rel = relative(src, f);
      if (rel.startsWith("gateway/") || rel.startsWith("db/")) continue;
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)["']([^"']+)["']/g)) {
        const spec = m[1]!;
        if (drivers.some((d) => spec === d || spec.startsWith(`${d}/`))) offenders.push(`${rel} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("only src/sql/parser.ts imports libpg-query (at runtime), so a run with nothing to parse never loads it", () => {
    const offenders: string[] = [];
    for (const f of files(src)) {
      const rel = relative(src, f);
      if (rel === "sql/parser.ts") continue;
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+["']libpg-query["']|import\s*\(\s*["']libpg-query["']/gm)) offenders.push(`${rel}: ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });

  it("the check sees imports (it would catch one)", () => {
    const sample = `import pg from "pg";\nconst x = await import("@electric-sql/pglite");`;
    const found = [...sample.matchAll(/(?:from\s+|import\s*\(\s*)["']([^"']+)["']/g)].map((m) => m[1]);
    expect(found).toEqual(["pg", "@electric-sql/pglite"]);
  });
});
