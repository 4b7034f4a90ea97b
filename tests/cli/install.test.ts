import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";

/**
 * pgkeel as a user gets it: the package is packed (from the dist/ that `npm test`
 * built; `npm pack --ignore-scripts` so no rebuild runs under the other tests'
 * feet) and installed from the tarball into a scratch project, whose npm then
 * finds its dependencies in the local cache first.
 */
const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };

async function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  return stdout.trim();
}

describe("installed from a packed tarball", () => {
  it("pgkeel --version, import and require, and a .ts migration typed with pgkeel's types", { timeout: 120_000 }, async () => {
    const scratch = mkdtempSync(join(tmpdir(), "pgkeel-install-"));
    await sh("npm", ["pack", "--ignore-scripts", "--pack-destination", scratch], repo);
    const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"))!;
    expect(tarball).toBe(`pgkeel-${pkg.version}.tgz`);
    // A CommonJS project (no "type": "module"), the harder case for an ES module package.
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", version: "1.0.0", private: true }));
    await sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `./${tarball}`], scratch);

    expect(await sh("npx", ["--no-install", "pgkeel", "--version"], scratch)).toBe(pkg.version);
    expect(await sh(process.execPath, ["--input-type=module", "-e", 'import { createKeel } from "pgkeel"; console.log(typeof createKeel)'], scratch)).toBe("function");
    expect(await sh(process.execPath, ["-e", 'console.log(typeof require("pgkeel").createKeel)'], scratch)).toBe("function");

    mkdirSync(join(scratch, "db/migrations"), { recursive: true });
    writeFileSync(
      join(scratch, "db/migrations/001_leads.ts"),
      [
        'import type { MigrationDb } from "pgkeel";',
        "",
        "export async function up(db: MigrationDb): Promise<void> {",
        '  if (!(await db.tableExists("leads"))) await db.sql("CREATE TABLE leads (id bigint PRIMARY KEY)");',
        "}",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, skipLibCheck: true, types: [] }, include: ["db"] }),
    );
    // The types resolve from the installed package (tsc would fail on an unresolved import).
    await sh(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", "."], scratch);
    const url = await freshDatabase("install");
    const out = await run("npx", ["--no-install", "pgkeel", "migrate", "--url", url], { cwd: scratch });
    expect(out.stderr).toContain("applied 001_leads");
    expect(await admin(url, "SELECT to_regclass('leads') IS NOT NULL AS made")).toEqual([{ made: true }]);
  });
});
