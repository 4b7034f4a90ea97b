import { describe, expect, it } from "vitest";
import { serverUrl } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/** No password appears in any output (SPEC guarantee 9), whatever goes wrong. */
const password = "Sup3r-Secret_pw%21x";

function withPassword(url: string, user = "pgkeel_nobody"): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

const decoded = decodeURIComponent(password);

describe("secrets never printed", () => {
  const cases: [string, () => { args: string[]; env?: Record<string, string>; files?: Record<string, string> }][] = [
    ["unreachable host via --url", () => ({ args: ["doctor", "--max-retries", "2", "--retry-cap", "50", "--url", withPassword("postgres://x@127.0.0.1:1/db")] })],
    ["login refused via DATABASE_URL", () => ({ args: ["migrate"], env: { DATABASE_URL: withPassword(serverUrl()) } })],
    ["login refused via config url, --json", () => ({ args: ["status", "--json"], files: { "pgkeel.config.json": JSON.stringify({ url: withPassword(serverUrl()) }) } })],
    ["unknown host via --via", () => ({ args: ["migrate", "--via", "direct"], files: { "pgkeel.config.json": JSON.stringify({ urls: { direct: withPassword("postgres://x@no-such-host.invalid:5432/db") } }) } })],
    ["bad URL scheme", () => ({ args: ["migrate", "--url", `mysql://root:${password}@localhost/db`] })],
  ];
  it.each(cases)("%s", async (_label, make) => {
    const c = make();
    const r = await runCli(c.args, { cwd: makeProject(c.files ?? {}), env: c.env });
    expect(r.code).not.toBe(0);
    const all = r.stdout + r.stderr;
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(password);
    expect(all).not.toContain(decoded);
  });

  it("a login failure exits 2 and names the role", async () => {
    const r = await runCli(["migrate", "--url", withPassword(serverUrl(), "no_such_role_x")], { cwd: makeProject({}) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no_such_role_x");
  });
});
