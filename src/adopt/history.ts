import { UsageError } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";

/** One migration another tool recorded as applied. */
export interface ToolEntry {
  /** How the tool names it (shown to the user): a file name, a script, a version. */
  readonly id: string;
  /** The migration's name as a pgkeel file name would have it (no extension), when the tool keeps one. */
  readonly name?: string;
  /** The tool's version of it (leading timestamp or number), when it has one. */
  readonly version?: string;
}

/** What another tool's tracking table says was applied. */
export interface ToolHistory {
  readonly entries: readonly ToolEntry[];
  /** Everything at or below this version counts as applied (golang-migrate's one row; Flyway's baseline marker). */
  readonly upTo?: { readonly version: string; readonly id: string };
  /** Rows the tool keeps but that are not applied migrations (rolled back, failed, repeatable), with why. */
  readonly skipped: readonly { readonly id: string; readonly reason: string }[];
}

/** Reads one tool's tracking table and knows how that tool's versions compare. */
export interface ToolReader {
  /** The table the tool creates, found on the search path unless `--table` names another. */
  readonly table: string;
  /** The version a pgkeel file name carries, as this tool would number it (undefined: none). */
  fileVersion(fileName: string): string | undefined;
  /** Versions in one canonical form, so "000001" and "1" (or Flyway's "1.1" and "1_1") are equal. */
  normalize(version: string): string;
  read(gw: Gateway, table: string): Promise<ToolHistory>;
}

/** The table's name as PostgreSQL resolves it (search path), or a usage error naming the tool. */
export async function findTable(gw: Gateway, table: string, tool: string): Promise<string> {
  const [row] = await gw.query<{ t: string | null }>(`find ${tool}'s table`, "SELECT to_regclass($1)::text AS t", [table]);
  if (!row?.t) {
    throw new UsageError(`adopt --from ${tool}: no table ${table} on this database's search path (the table ${tool} keeps its history in); name it with --table [schema.]name`);
  }
  return row.t;
}

/** Leading digits of a name ("20240101000000_create_a" -> "20240101000000"). */
export function leadingNumber(name: string): string | undefined {
  return /^(\d+)/.exec(name)?.[1];
}

/** A number without leading zeros: golang-migrate keeps versions as bigint, files say 000001. */
export function plainNumber(v: string): string {
  return /^\d+$/.test(v) ? v.replace(/^0+(?=\d)/, "") : v;
}

/** Compares normalized versions part by part as numbers ("1.10" > "1.9"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = BigInt(/^\d+$/.test(pa[i] ?? "0") ? (pa[i] ?? "0") : "0");
    const y = BigInt(/^\d+$/.test(pb[i] ?? "0") ? (pb[i] ?? "0") : "0");
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Readers of tools that number migrations with a leading timestamp or integer. */
export const numbered = { fileVersion: leadingNumber, normalize: plainNumber };
