import type { Analysis } from "./analyze.js";
import { rules } from "./rules/index.js";
import type { Finding, TableFacts } from "./types.js";

/** How findings are printed: `lint`'s four formats, `plan`'s lines, the refusal's message. */

export function sizeWords(f: TableFacts | undefined): string {
  if (!f) return "";
  if (f.state === "unknown") return "table size unknown (no database)";
  if (f.state === "missing") return "table not in the database yet";
  if (f.state === "new") return "new in this run";
  const rows = f.rows === undefined ? "rows unknown" : `${f.rowsAtLeast ? "at least " : "~"}${f.rows.toLocaleString("en-US")} rows`;
  return f.bytes ? `${rows}, ${bytes(f.bytes)}` : rows;
}

function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function lockWordsOf(f: Finding): string {
  return f.locks.length ? f.locks.map((l) => `${l.mode} on ${l.table}`).join(", ") : "no table lock";
}

/** One finding as text: position, rule, message, lock and size, then the fix indented. */
export function findingText(f: Finding, indent = ""): string {
  const size = sizeWords(f.facts);
  const head = `${indent}${f.file}:${f.line}:${f.column}: ${f.allowed === undefined ? f.level : "allowed"} ${f.rule}: ${f.message}`;
  const meta = `${indent}  lock: ${lockWordsOf(f)}${size ? `; ${f.table}: ${size}` : ""}${f.allowed !== undefined ? `; allowed: ${f.allowed}` : ""}`;
  const fix = f.fix.split("\n").map((l) => `${indent}    ${l}`).join("\n");
  return `${head}\n${meta}\n${indent}  fix:\n${fix}`;
}

/** Findings that stop a run (and make lint exit 6): error level and not allowed by the file. */
export function refusing(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.level === "error" && f.allowed === undefined);
}

export function textReport(a: Analysis): string {
  const lines = a.findings.map((f) => findingText(f));
  for (const n of a.notAnalysed) lines.push(`${n.file}: not analysed: a code migration's SQL is only known when it runs`);
  const blocking = refusing(a.findings).length;
  const context = a.online ? `PostgreSQL ${versionWords(a.serverVersion)}` : "no database: table sizes unknown";
  lines.push(`${a.findings.length} finding${a.findings.length === 1 ? "" : "s"} (${blocking} refusing), ${context}`);
  return lines.join("\n");
}

export function versionWords(v: number | undefined): string {
  if (v === undefined) return "unknown";
  return v >= 100000 ? `${Math.floor(v / 10000)}.${v % 10000}` : `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

export function jsonReport(a: Analysis): string {
  return JSON.stringify({ online: a.online, serverVersion: a.serverVersion ?? null, minRows: a.minRows, findings: a.findings, notAnalysed: a.notAnalysed });
}

/** GitHub workflow commands: one annotation per finding, on its file and line. */
export function githubReport(a: Analysis): string {
  const esc = (s: string) => s.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
  const prop = (s: string) => esc(s).replaceAll(":", "%3A").replaceAll(",", "%2C");
  return a.findings
    .map((f) => {
      const kind = f.allowed !== undefined ? "notice" : f.level === "error" ? "error" : "warning";
      const body = `${f.message} (${lockWordsOf(f)}${f.facts ? `; ${sizeWords(f.facts)}` : ""})${f.allowed !== undefined ? ` allowed: ${f.allowed}` : ""}\nfix:\n${f.fix}`;
      return `::${kind} file=${prop(f.file)},line=${f.line},col=${f.column},title=${prop(`pgkeel ${f.rule}`)}::${esc(body)}`;
    })
    .join("\n");
}

/** SARIF 2.1.0, one run, every rule described; valid against the OASIS schema (tests/safety/lint.test.ts). */
export function sarifReport(a: Analysis, version: string): string {
  const used = rules;
  return JSON.stringify({
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "pgkeel",
            version,
            informationUri: "https://www.npmjs.com/package/pgkeel",
            rules: used.map((r) => ({
              id: r.id,
              name: r.id,
              shortDescription: { text: r.summary },
              fullDescription: { text: `${r.summary}. Lock: ${r.lock}.` },
              defaultConfiguration: { level: r.hygiene ? "none" : r.level },
              help: { text: `Bad: ${r.example.bad}\nSafe: ${r.example.good}` },
            })),
          },
        },
        results: a.findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: used.findIndex((r) => r.id === f.rule),
          level: f.allowed !== undefined ? "note" : f.level,
          message: { text: `${f.message} (${lockWordsOf(f)}${f.facts ? `; ${sizeWords(f.facts)}` : ""}).\nSafe alternative:\n${f.fix}` },
          locations: [{ physicalLocation: { artifactLocation: { uri: f.file.split("\\").join("/") }, region: { startLine: f.line, startColumn: f.column } } }],
          ...(f.allowed !== undefined && { suppressions: [{ kind: "inSource", justification: f.allowed }] }),
          properties: { fix: f.fix, locks: f.locks, effect: f.effect, table: f.table ?? null, size: f.facts ? sizeWords(f.facts) : null },
        })),
      },
    ],
  });
}
