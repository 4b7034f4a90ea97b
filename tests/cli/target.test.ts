import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * The embedded database is used only when nothing names a database (SPEC section 3):
 * anything that looks like a half-configured deploy is exit 2 with the fix named, and
 * nothing is created.
 */
const migration = { "db/migrations/001_a.sql": "CREATE TABLE a (id int);" };

describe("the embedded default never catches a deploy", () => {
  const refused: [string, Record<string, string>, Record<string, string>, string[], RegExp][] = [
    ["DATABASE_URL set but empty", {}, { DATABASE_URL: "", CI: "true", NODE_ENV: "production" }, [], /DATABASE_URL is set but empty.*unset it/s],
    ["DATABASE_URL of blanks", {}, { DATABASE_URL: "  " }, [], /DATABASE_URL is set but empty/],
    ["DATABASE_URL empty in .env", { ".env": "DATABASE_URL=\n" }, {}, [], /DATABASE_URL in \S*\.env is empty/],
    ["config urls but none chosen", { "pgkeel.config.json": JSON.stringify({ urls: { pooler: "postgres://a@p/db", direct: "postgres://a@d/db" } }) }, {}, [], /names URLs \(pooler, direct\) but none is chosen: pass --via pooler/],
    ["NODE_ENV=production without a URL", {}, { NODE_ENV: "production" }, [], /NODE_ENV=production.*--url.*DATABASE_URL/s],
  ];
  it.each(refused)("%s: exit 2, the fix named, nothing created", async (_label, files, env, args, message) => {
    const cwd = makeProject({ ...migration, ...files });
    const r = await runCli(["migrate", ...args], { cwd, env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain("PGlite");
    expect(existsSync(join(cwd, ".pgkeel"))).toBe(false);
  });
  // Nothing names a database: the embedded one, said on the first line (tests/gateway/doctor.test.ts).
});

describe("the first line says where the URL came from", () => {
  const firstLine = (s: string) => s.split("\n")[0];
  const shown = (url: string) => {
    const u = new URL(url);
    u.password = "***";
    return u.toString();
  };

  it("DATABASE_URL from a .env file in the project folder, when the environment has none", async () => {
    const url = await freshDatabase("cli_dotenv");
    const cwd = makeProject({ ...migration, ".env": `# local settings\nOTHER=1\nDATABASE_URL="${url}"\n` });
    const r = await runCli(["migrate"], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(firstLine(r.stderr)).toBe(`pgkeel: target ${shown(url)} (from DATABASE_URL in .env)`);
    expect(r.stderr).not.toContain(new URL(url).password);
  });

  it("the environment's DATABASE_URL beats .env; --url beats both; --via names its URL", async () => {
    const url = await freshDatabase("cli_source");
    const cwd = makeProject({
      ...migration,
      ".env": "DATABASE_URL=postgres://nobody@127.0.0.1:1/never\n",
      "pgkeel.config.json": JSON.stringify({ urls: { direct: url } }),
    });
    const env = await runCli(["status"], { cwd, env: { DATABASE_URL: url } });
    expect(env.code, env.stderr).toBe(0);
    expect(firstLine(env.stderr)).toBe(`pgkeel: target ${shown(url)} (from DATABASE_URL)`);
    const flag = await runCli(["status", "--url", url], { cwd, env: { DATABASE_URL: "" } });
    expect(firstLine(flag.stderr)).toBe(`pgkeel: target ${shown(url)} (from --url)`);
    const via = await runCli(["status", "--via", "direct"], { cwd, env: { DATABASE_URL: "" } });
    expect(firstLine(via.stderr)).toBe(`pgkeel: target ${shown(url)} (from config urls.direct)`);
  });
});
