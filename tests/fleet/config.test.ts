import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../support/project.js";
import { writeConfig } from "./support.js";

/** A bad fleet config is a usage error (exit 2) naming the file and the key, and nothing runs. */
describe("fleet config", () => {
  const cases: [string, object, RegExp][] = [
    ["two member sources", { urls: ["postgres://a@h/x"], urlsFile: "t.txt" }, /fleets\.t needs exactly one member source of urls, urlsFile, query, schemas; got urls and urlsFile/],
    ["an unknown key", { urls: ["postgres://a@h/x"], canaries: 1 }, /fleets\.t: unknown key "canaries"/],
    ["a bad wave", { urls: ["postgres://a@h/x"], waves: ["25%", "half"] }, /fleets\.t\.waves: "half" is neither a whole number of members nor a percentage/],
    ["a per-host cap below one member", { urls: ["postgres://a@h/x"], perHost: 1 }, /fleets\.t\.perHost must be a whole number of at least 2/],
    ["a schema list and a query", { schemas: { url: "postgres://a@h/x", list: ["a"], sql: "SELECT 1" } }, /fleets\.t\.schemas must be an object/],
    ["a URL that is not one", { urls: ["postgres://a:pw1secret@h/x", "nonsense"] }, /fleets\.t\.urls\[1\]: not a valid URL/],
    ["a member twice", { urls: ["postgres://a@h/x", "postgres://a@h/x"] }, /member postgres:\/\/a@h\/x is listed twice/],
    ["a canary that is no member", { urls: ["postgres://a@h/x"], canary: ["postgres://a:pw1secret@h/y"] }, /canary: URL postgres:\/\/a:\*\*\*@h\/y is not a member of the fleet/],
  ];
  for (const [what, fleet, message] of cases) {
    it(`refuses ${what}`, async () => {
      const dir = makeProject({ "db/migrations/1_a.sql": "SELECT 1;\n" });
      writeConfig(dir, { fleets: { t: fleet } });
      const r = await runCli(["run", "--fleet", "t"], { cwd: dir });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/pgkeel\.config\.json/);
      expect(r.stderr).toMatch(message);
      expect(r.stderr + r.stdout).not.toContain("pw1secret");
    });
  }

  it("names the fleets it knows when --fleet names none of them", async () => {
    const dir = makeProject({});
    writeConfig(dir, { fleets: { tenants: { urls: ["postgres://a@h/x"] } } });
    const r = await runCli(["status", "--fleet", "tenant"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fleet tenant: no such fleet in .*pgkeel\.config\.json \(known: tenants\)/);
  });
});
