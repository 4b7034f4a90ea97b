import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readmeEnd, readmeStart, rulesMarkdown, withRules } from "../../src/safety/readme.js";
import { rules } from "../../src/safety/rules/index.js";

describe("README: Safety rules", () => {
  it("is generated from the rule definitions and up to date (npm run readme:rules)", () => {
    const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
    const block = readme.slice(readme.indexOf(readmeStart), readme.indexOf(readmeEnd) + readmeEnd.length);
    expect(block, "README.md is stale: run npm run readme:rules").toBe(rulesMarkdown());
    for (const r of rules) expect(block).toContain(`| \`${r.id}\` |`);
  });

  it("the check can fail: an edited table is regenerated; a README without one gets the section", () => {
    const generated = withRules("# x\n");
    expect(generated).toContain("## Safety rules");
    expect(withRules(generated)).toBe(generated);
    const edited = generated.replace("| `adding-field-with-default` | error |", "| `adding-field-with-default` | warning |");
    expect(edited).not.toBe(generated);
    expect(withRules(edited)).toBe(generated);
  });
});
