import { describe, expect, it } from "vitest";
import { authBouncerUrl, bouncerSkip, bouncerUrl, withDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * PgBouncer reports a refused login as SQLSTATE 08P01, the class of a lost
 * connection. pgkeel must not retry it: exit 2 at once, naming the role or the
 * database, as for a direct connection (SPEC section 4, "login refused").
 */
const retryFlags = ["--max-retries", "4", "--retry-cap", "50"];

function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

describe("PgBouncer's login errors are not retried", () => {
  it("a wrong password (PgBouncer checks it: auth_type md5): exit 2 at once, naming the role", async (ctx) => {
    if (bouncerSkip() || !authBouncerUrl()) ctx.skip();
    const good = new URL(authBouncerUrl());
    const role = decodeURIComponent(good.username);
    const r = await runCli(["migrate", "--url", withCredentials(authBouncerUrl(), role, "not-the-password"), ...retryFlags], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(/retry/);
    expect(r.stderr).toContain(`password authentication failed for role "${role}"`);
    expect(r.stderr).toContain("08P01");
    expect(r.stderr).not.toContain("not-the-password");
  });

  it("a role PgBouncer does not know: exit 2 at once, naming the role", async (ctx) => {
    if (bouncerSkip() || !authBouncerUrl()) ctx.skip();
    const r = await runCli(["status", "--url", withCredentials(authBouncerUrl(), "nobody_here", "x"), ...retryFlags], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(/retry/);
    expect(r.stderr).toContain('role "nobody_here"');
  });

  it.for([
    ["trust", () => bouncerUrl()],
    ["md5", () => authBouncerUrl()],
  ] as const)("a database that does not exist (PgBouncer %s): exit 2 at once, naming it and how to create it", async ([, url], ctx) => {
    if (bouncerSkip() || !url()) ctx.skip();
    const r = await runCli(["migrate", "--url", withDatabase(url(), "no_such_db_here"), ...retryFlags], { cwd: makeProject({}) });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(/retry/);
    expect(r.stderr).toContain('database "no_such_db_here" does not exist');
    expect(r.stderr).toContain("createdb no_such_db_here");
  });
});
