import { scan } from "../../sql/parser.js";
import { importModule } from "../../config/config.js";
import { InputError, type SourceLocation } from "../../errors.js";
import { durationMs, readDirectives } from "../../sql/directives.js";
import { parseSqlFile } from "../../sql/split.js";
import { listPhaseFiles, readSource, type PhaseDir } from "../files.js";

/** What a code backfill's `run(tx, range)` receives: the batch's transaction. */
export interface BackfillTx {
  sql<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

/** The batch's key range, both ends inclusive, as text (cast to the key's type in SQL). */
export interface KeyRange {
  readonly from: string;
  readonly to: string;
}

interface Base {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  /** The table: "name" on the search path, or "schema.name". */
  readonly table: string;
  readonly key: string;
  /** Starting batch size (rows), and the ceiling the adaptive size moves under unless `maxBatch` raises it. */
  readonly batch: number;
  /** The adaptive size's ceiling: `max=` in the header, else `batch`. */
  readonly maxBatch: number;
  readonly pauseMs: number;
  /** Adapt the batch size so a batch takes about this long; 0 keeps it fixed. */
  readonly targetMs: number;
}

export interface SqlBackfill extends Base {
  readonly kind: "sql";
  /** The statement in pieces: text, and where :from / :to go. */
  readonly pieces: readonly (string | { readonly param: "from" | "to" })[];
}

export interface CodeBackfill extends Base {
  readonly kind: "code";
  readonly run: (tx: BackfillTx, range: KeyRange) => Promise<unknown>;
}

export type Backfill = SqlBackfill | CodeBackfill;

const fields = ["table", "key", "batch", "max", "pause", "target"] as const;
const defaultTargetMs = 200;

/** Loads and validates every backfill file (header, statement, :from/:to) before anything runs. */
export async function loadBackfills(dir: PhaseDir, cwd: string): Promise<Backfill[]> {
  const out: Backfill[] = [];
  for (const f of listPhaseFiles(dir, cwd, [".sql", ".ts", ".js", ".mjs"])) {
    out.push(f.ext === ".sql" ? await loadSql(f.name, f.path, f.display) : await loadCode(f.name, f.path, f.display));
  }
  return out;
}

async function loadSql(name: string, path: string, file: string): Promise<SqlBackfill> {
  const text = readSource(path, file);
  const placeholders = await placeholderTokens(text);
  const parsed = await parseSqlFile(asParams(text, placeholders), file);
  const header = readDirectives(parsed.leadingComments, file, ["backfill"]).extra.find((d) => d.name === "backfill");
  if (!header) throw new InputError({ file, line: 1, column: 1 }, "a backfill starts with a header: -- pgkeel:backfill table=... key=... batch=...");
  const at = { file, line: header.line, column: header.column };
  const settings = readHeader(header.args, at);
  if (parsed.statements.length !== 1) {
    throw new InputError({ file, line: parsed.statements[1]?.line ?? 1 }, `a SQL backfill holds exactly one statement, found ${parsed.statements.length}`);
  }
  const stmt = parsed.statements[0]!;
  // Same length as the original, so the statement's place in the original is the same.
  const pieces = await splitPlaceholders(text.slice(stmt.start, stmt.start + stmt.text.length));
  for (const p of ["from", "to"] as const) {
    if (!pieces.some((x) => typeof x !== "string" && x.param === p)) {
      throw new InputError({ file, line: stmt.line, column: stmt.column }, `the statement must use :${p} (the batch's ${p === "from" ? "first" : "last"} key, inclusive)`);
    }
  }
  return { kind: "sql", name, file, line: stmt.line, ...settings, pieces };
}

async function loadCode(name: string, path: string, file: string): Promise<CodeBackfill> {
  // Node would decode a bad byte silently; refuse it first.
  readSource(path, file);
  let mod: unknown;
  try {
    mod = await importModule(path);
  } catch (e) {
    throw new InputError({ file }, `cannot load: ${(e as Error).message}`);
  }
  const def = mod as Record<string, unknown>;
  if (typeof def.run !== "function") throw new InputError({ file }, "a code backfill exports default { table, key, batch, async run(tx, range) }");
  const header = Object.entries(def)
    .filter(([k]) => k !== "run")
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
  return { kind: "code", name, file, line: 1, ...readHeader(header, { file }), run: def.run as CodeBackfill["run"] };
}

function readHeader(args: string, at: SourceLocation): Pick<Base, "table" | "key" | "batch" | "maxBatch" | "pauseMs" | "targetMs"> {
  const values = new Map<string, string>();
  for (const pair of args.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (!(fields as readonly string[]).includes(key)) {
      const hint = key === "where" ? " (there is no where=: filter in the statement)" : "";
      throw new InputError(at, `unknown backfill field "${key}"${hint} (known: ${fields.join(", ")})`);
    }
    if (eq < 0 || eq === pair.length - 1) throw new InputError(at, `backfill field "${key}" needs a value (${key}=...)`);
    values.set(key, pair.slice(eq + 1));
  }
  for (const required of ["table", "key"]) {
    if (!values.get(required)) throw new InputError(at, `the backfill header needs ${required}=`);
  }
  const batch = Number(values.get("batch") ?? 1000);
  if (!Number.isInteger(batch) || batch < 1) throw new InputError(at, `batch= needs a whole number of rows of at least 1, got "${values.get("batch")}"`);
  const maxBatch = Number(values.get("max") ?? batch);
  if (!Number.isInteger(maxBatch) || maxBatch < batch) {
    throw new InputError(at, `max= needs a whole number of rows of at least batch= (${batch}), got "${values.get("max")}"`);
  }
  const duration = (field: string, fallback: number) => {
    const v = values.get(field);
    if (v === undefined) return fallback;
    const ms = durationMs(v);
    if (!Number.isFinite(ms)) throw new InputError(at, `${field}= needs a duration such as 50ms or 1s, got "${v}"`);
    return ms;
  };
  return { table: values.get("table")!, key: values.get("key")!, batch, maxBatch, pauseMs: duration("pause", 0), targetMs: duration("target", defaultTargetMs) };
}

/** `:from` / `:to` as the scanner sees them: a colon token right before an identifier or keyword. */
async function placeholderTokens(text: string): Promise<{ start: number; end: number; param: "from" | "to" }[]> {
  const tokens = (await scan(text)).tokens;
  const out: { start: number; end: number; param: "from" | "to" }[] = [];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const colon = tokens[i]!;
    const word = tokens[i + 1]!;
    const param = word.text.toLowerCase();
    if (colon.text === ":" && word.start === colon.end && (param === "from" || param === "to")) {
      out.push({ start: colon.start, end: word.end, param });
    }
  }
  return out;
}

/** The text with :from / :to as $1 / $2 padded to the same length, so PostgreSQL's parser can check it. */
function asParams(text: string, placeholders: readonly { start: number; end: number; param: "from" | "to" }[]): string {
  const bytes = Buffer.from(text, "utf8");
  let out = "";
  let at = 0;
  for (const p of placeholders) {
    out += bytes.subarray(at, p.start).toString("utf8") + (p.param === "from" ? "$1" : "$2").padStart(p.end - p.start, " ");
    at = p.end;
  }
  return out + bytes.subarray(at).toString("utf8");
}

async function splitPlaceholders(text: string): Promise<SqlBackfill["pieces"]> {
  const bytes = Buffer.from(text, "utf8");
  const pieces: (string | { param: "from" | "to" })[] = [];
  let at = 0;
  for (const p of await placeholderTokens(text)) {
    pieces.push(bytes.subarray(at, p.start).toString("utf8"), { param: p.param });
    at = p.end;
  }
  pieces.push(bytes.subarray(at).toString("utf8"));
  return pieces;
}
