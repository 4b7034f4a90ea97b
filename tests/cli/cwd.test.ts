import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../support/project.js";

/** `--cwd` names the project folder: one that does not exist is a usage error (issue 8 item 20). */
describe("--cwd", () => {
  it("a folder that does not exist: exit 2 naming it, no embedded database created", async () => {
    const parent = makeProject({});
    const missing = join(parent, "no-such-project");
    for (const command of ["run", "status", "migrate"]) {
      const r = await runCli([command, "--cwd", missing], { cwd: parent });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${missing}: project folder not found`);
    }
    expect(existsSync(missing)).toBe(false);
  });

  it("a file, not a folder: exit 2 naming it", async () => {
    const parent = makeProject({});
    const file = join(parent, "pgkeel.txt");
    writeFileSync(file, "");
    const r = await runCli(["run", "--cwd", file], { cwd: parent });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${file}: not a folder`);
  });
});
