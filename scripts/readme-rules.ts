// Regenerates the README's "Safety rules" table from the rule definitions (tests/safety/readme.test.ts fails when it is stale).
import { readFileSync, writeFileSync } from "node:fs";
import { withRules } from "../src/safety/readme.js";

const file = new URL("../README.md", import.meta.url);
const before = readFileSync(file, "utf8");
const after = withRules(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(after === before ? "README.md: safety rules up to date\n" : "README.md: safety rules regenerated\n");
