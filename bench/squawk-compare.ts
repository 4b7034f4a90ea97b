/**
 * What squawk and pgkeel each flag on the same files: the issue's nine-statement
 * file and two generated histories (bench/histories.ts). squawk is not a
 * dependency: install it outside the repo and point SQUAWK at its binary.
 *
 *   (cd /tmp/squawk && npm i squawk-cli) && SQUAWK=/tmp/squawk/node_modules/.bin/squawk npx tsx bench/squawk-compare.ts [--n 40]
 *
 * pgkeel runs without a database here, as squawk does: each file judged alone
 * (as CI lints a changed file), and each history judged as one run (as
 * `pgkeel migrate` would, where tables created earlier in the run block nobody).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadInputs } from "../src/safety/lint.js";
import { analyze } from "../src/safety/analyze.js";
import { issueStatements } from "../tests/safety/support.js";
import { handwrittenHistory, prismaHistory, type HistoryFile } from "./histories.js";

const squawk = process.env.SQUAWK;
if (!squawk) throw new Error("set SQUAWK to squawk's binary (npm i squawk-cli outside this repo)");
const n = Number(process.argv[process.argv.indexOf("--n") + 1] || 40) || 40;

const issueFile: HistoryFile = { name: "20261127120000_leads", sql: issueStatements.join("\n") };

type Hit = { file: string; line: number; rule: string };

function write(files: readonly HistoryFile[]): string {
  const dir = mkdtempSync(join(tmpdir(), "squawk-compare-"));
  mkdirSync(join(dir, "db/migrations"), { recursive: true });
  for (const f of files) writeFileSync(join(dir, "db/migrations", `${f.name}.sql`), `${f.sql}\n`);
  return dir;
}

function squawkHits(dir: string, files: readonly HistoryFile[]): Hit[] {
  let out: string;
  try {
    out = execFileSync(squawk!, ["--reporter", "json", ...files.map((f) => join(dir, "db/migrations", `${f.name}.sql`))], { encoding: "utf8", maxBuffer: 1 << 26 });
  } catch (e) {
    out = (e as { stdout: string }).stdout; // exit 1 when it finds something
  }
  return (JSON.parse(out) as { file: string; line: number; rule_name: string }[]).map((v) => ({ file: v.file.split("/").pop()!, line: v.line + 1, rule: v.rule_name }));
}

async function pgkeelHits(dir: string, files: readonly HistoryFile[], oneRun: boolean): Promise<Hit[]> {
  const phase = files.map((f) => ({ name: f.name, path: join(dir, "db/migrations", `${f.name}.sql`), display: `${f.name}.sql`, ext: ".sql" }));
  const inputs = await loadInputs(phase);
  const runs = oneRun ? [inputs] : inputs.map((i) => [i]);
  const hits: Hit[] = [];
  for (const r of runs) for (const f of (await analyze(r, undefined, undefined)).findings) hits.push({ file: f.file, line: f.line, rule: f.rule });
  return hits;
}

function tally(hits: readonly Hit[]): string {
  const counts = new Map<string, number>();
  for (const h of hits) counts.set(h.rule, (counts.get(h.rule) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([r, c]) => `${r} ${c}`).join(", ") || "nothing";
}

/** Statements (file:line) flagged by one tool and not the other. */
function statements(hits: readonly Hit[]): Set<string> {
  return new Set(hits.map((h) => `${h.file}:${h.line}`));
}

async function main() {
  const sets: [string, HistoryFile[]][] = [
    ["the issue's file", [issueFile]],
    [`Prisma-style history (${n} files)`, prismaHistory(n)],
    [`hand-written history (${n} files)`, handwrittenHistory(n)],
  ];
  const lines: string[] = [];
  for (const [label, files] of sets) {
    const dir = write(files);
    const sq = squawkHits(dir, files);
    const alone = await pgkeelHits(dir, files, false);
    const run = await pgkeelHits(dir, files, true);
    const [a, b] = [statements(sq), statements(alone)];
    lines.push(
      `## ${label}`,
      `- statements: ${files.reduce((k, f) => k + f.sql.split(";").length - 1, 0)} (approx.)`,
      `- squawk: ${sq.length} warnings on ${a.size} statements: ${tally(sq)}`,
      `- pgkeel, each file alone: ${alone.length} findings on ${b.size} statements: ${tally(alone)}`,
      `- pgkeel, the history as one run: ${run.length} findings: ${tally(run)}`,
      `- statements only squawk flags: ${[...a].filter((x) => !b.has(x)).length}; only pgkeel: ${[...b].filter((x) => !a.has(x)).length}`,
      `- squawk's index-creation warnings on tables created in the same file: ${sq.filter((h) => h.rule === "require-concurrent-index-creation" && files.find((f) => `${f.name}.sql` === h.file)!.sql.includes("CREATE TABLE")).length}`,
      "",
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
