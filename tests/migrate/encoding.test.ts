import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { readSource } from "../../src/phases/files.js";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * A file that is not valid UTF-8 (here a Latin-1 é, byte 0xE9) is refused before
 * anything runs, naming the file and the line and column of the first bad byte,
 * whatever the phase and whether SQL or code (issue 8 item 19).
 */
/** `before`, then the byte 0xE9, then `after`; and where that byte is, as line:column. */
function latin1(before: string, after: string): { bytes: Buffer; at: string } {
  const lines = before.split("\n");
  return {
    bytes: Buffer.concat([Buffer.from(before, "utf8"), Buffer.from([0xe9]), Buffer.from(after, "utf8")]),
    at: `${lines.length}:${lines[lines.length - 1]!.length + 1}`,
  };
}

const cases: [string, string, { bytes: Buffer; at: string }][] = [
  ["a SQL migration", "db/migrations/002_b.sql", latin1("CREATE TABLE b (v text);\n-- café in UTF-8 is fine: café\nINSERT INTO b VALUES ('café, caf", "');\n")],
  ["a code migration", "db/migrations/002_b.mjs", latin1("export async function up(db) {\n  // café\n  await db.sql(\"SELECT 'caf", "'\");\n}\n")],
  ["an index file", "db/indexes/a.sql", latin1("CREATE INDEX a_idx ON a (id);\n\nCREATE INDEX a_caf", "_idx ON a (id);\n")],
  ["a SQL backfill", "db/backfills/001_fill.sql", latin1("-- pgkeel:backfill table=a key=id batch=10\nUPDATE a SET id = id\n WHERE id BETWEEN :from AND :to AND 'caf", "' IS NOT NULL;\n")],
  ["a code backfill", "db/backfills/001_fill.mjs", latin1("export default {\n  table: 'a', key: 'id', batch: 10,\n  async run(tx, range) { await tx.sql(\"SELECT 'caf", "'\"); },\n};\n")],
];

describe("a file that is not valid UTF-8", () => {
  it.each(cases)("%s: exit 1 naming the file, line and column; nothing runs", async (_label, path, file) => {
    const url = await freshDatabase("encoding");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int PRIMARY KEY);" });
    mkdirSync(dirname(join(cwd, path)), { recursive: true });
    writeFileSync(join(cwd, path), file.bytes);
    const r = await runCli(["run", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${path}:${file.at}: not valid UTF-8`);
    const [row] = await admin<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('a', 'migrations')");
    expect(row!.n).toBe(0);
  });
});

describe("the UTF-8 check", () => {
  it("agrees with a strict decoder on edge cases and on random bytes", () => {
    const dir = mkdtempSync(join(tmpdir(), "pgkeel-utf8-"));
    const strict = new TextDecoder("utf-8", { fatal: true });
    const valid = (b: Uint8Array) => {
      try {
        strict.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    const edges = [
      [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0xe2, 0x82],
      [0xef, 0x41], [0xef, 0xbf, 0xbd], [0xf0, 0x9f, 0x98, 0x80], [0xe2, 0x82, 0xac], [0xc3, 0xa9], [0x80],
    ];
    // Bytes around the boundaries of UTF-8's lead and continuation ranges, in a fixed pseudo-random order.
    const alphabet = [0x41, 0x0a, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const random = Array.from({ length: 1000 }, () => Array.from({ length: 1 + (next() % 6) }, () => alphabet[next() % alphabet.length]!));
    let refused = 0;
    for (const sample of [...edges, ...random]) {
      const bytes = Uint8Array.from(sample);
      writeFileSync(join(dir, "f.sql"), bytes);
      let ok = true;
      try {
        readSource(join(dir, "f.sql"), "f.sql");
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        ok = false;
        refused++;
      }
      expect(ok, `bytes ${Buffer.from(bytes).toString("hex")}`).toBe(valid(bytes));
    }
    expect(refused).toBeGreaterThan(100);
  });
});
