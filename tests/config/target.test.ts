import { describe, expect, it } from "vitest";
import { chooseTarget } from "../../src/config/target.js";
import { makeProject } from "../support/project.js";

/** One URL per run, first found wins (SPEC section 3). */
const env = (DATABASE_URL?: string) => (DATABASE_URL ? { DATABASE_URL } : {});
const config = { url: "postgres://c:cpw@config/db", urls: { pooler: "postgres://p:ppw@pooler/db", direct: "postgres://d:dpw@direct/db" } };

describe("connection target", () => {
  it("--url beats everything", () => {
    const t = chooseTarget({ url: "postgres://u:upw@flag/db", env: env("postgres://e:epw@env/db"), config, cwd: "/p" });
    expect(t).toMatchObject({ kind: "url", source: "--url", display: "postgres://u:***@flag/db (from --url)" });
  });
  it("--via picks a named config URL, over DATABASE_URL", () => {
    expect(chooseTarget({ via: "direct", env: env("postgres://e@env/db"), config, cwd: "/p" })).toMatchObject({ source: "config urls.direct" });
  });
  it("DATABASE_URL beats the config's url", () => {
    expect(chooseTarget({ env: env("postgres://e:epw@env/db"), config, cwd: "/p" })).toMatchObject({ source: "DATABASE_URL", display: "postgres://e:***@env/db (from DATABASE_URL)" });
  });
  it("the config's url when nothing else is given", () => {
    expect(chooseTarget({ env: {}, config, cwd: "/p" })).toMatchObject({ source: "config url" });
  });
  it("embedded PGlite under the project when there is no URL at all", () => {
    expect(chooseTarget({ env: {}, config: {}, cwd: "/p" })).toEqual({ kind: "pglite", dir: "/p/.pgkeel/pglite", display: "embedded PGlite database in /p/.pgkeel/pglite" });
  });
  it("refuses --url with --via, an unknown --via name, and a URL that is not postgres", () => {
    expect(() => chooseTarget({ url: "postgres://x/y", via: "direct", env: {}, config, cwd: "/p" })).toThrow(/cannot be used together/);
    expect(() => chooseTarget({ via: "replica", env: {}, config, cwd: "/p" })).toThrow(/--via replica: no such URL in the config \(known: pooler, direct\)/);
    const e = (() => {
      try {
        chooseTarget({ url: "mysql://root:sekrit@h/db", env: {}, config: {}, cwd: "/p" });
      } catch (x) {
        return x as Error & { exitCode: number };
      }
    })();
    expect(e?.exitCode).toBe(2);
    expect(e?.message).not.toContain("sekrit");
  });

  it("DATABASE_URL from the project's .env only when the environment has none", () => {
    const cwd = makeProject({ ".env": "DATABASE_URL=postgres://f:fpw@dotenv/db\n" });
    expect(chooseTarget({ env: {}, config, cwd })).toMatchObject({ source: "DATABASE_URL in .env", display: "postgres://f:***@dotenv/db (from DATABASE_URL in .env)" });
    expect(chooseTarget({ env: env("postgres://e@env/db"), config, cwd })).toMatchObject({ source: "DATABASE_URL" });
    expect(chooseTarget({ via: "pooler", env: {}, config, cwd })).toMatchObject({ source: "config urls.pooler" });
  });
  it("refuses what only looks like no database: empty DATABASE_URL, urls without a choice, production", () => {
    expect(() => chooseTarget({ env: { DATABASE_URL: "" }, config: {}, cwd: "/p" })).toThrow(/DATABASE_URL is set but empty/);
    expect(() => chooseTarget({ env: { DATABASE_URL: "" }, config, cwd: "/p" })).toThrow(/DATABASE_URL is set but empty/);
    expect(() => chooseTarget({ env: {}, config: { urls: config.urls }, cwd: "/p" })).toThrow(/names URLs \(pooler, direct\) but none is chosen/);
    expect(() => chooseTarget({ env: { NODE_ENV: "production" }, config: {}, cwd: "/p" })).toThrow(/NODE_ENV=production/);
    expect(chooseTarget({ env: { NODE_ENV: "production" }, config, cwd: "/p" })).toMatchObject({ source: "config url" });
  });
});
