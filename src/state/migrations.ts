import type { Gateway, UnitContext } from "../gateway/gateway.js";
import type { StateNames } from "./schema.js";

export interface AppliedMigration {
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: Date;
  readonly durationMs: number;
  /** Hash of the checksum and the file's bytes when recorded (sql/checksum.ts fileHash); null on rows written before pgkeel kept it. */
  readonly fileHash: string | null;
}

/** `withFileHash`: the column exists (a database made by an older pgkeel and not written to since lacks it). */
export async function readApplied(gw: Gateway, names: StateNames, withFileHash = true): Promise<AppliedMigration[]> {
  const rows = await gw.query<{ name: string; checksum: string; applied_at: Date; duration_ms: number; file_hash: string | null }>(
    "read applied migrations",
    `SELECT name, checksum, applied_at, duration_ms, ${withFileHash ? "file_hash" : "NULL::text AS file_hash"} FROM ${names.migrations} ORDER BY name COLLATE "C"`,
  );
  return rows.map((r) => ({ name: r.name, checksum: r.checksum, appliedAt: new Date(r.applied_at), durationMs: r.duration_ms, fileHash: r.file_hash }));
}

/** Which of `names` have tracking rows, and which runner wrote each: how a lost COMMIT is resolved. */
export async function appliedAmong(
  db: Pick<UnitContext, "rows">,
  state: StateNames,
  names: readonly string[],
): Promise<Map<string, { by: string | null; durationMs: number }>> {
  const rows = await db.rows<{ name: string; applied_by: string | null; duration_ms: number }>(
    `SELECT name, applied_by, duration_ms FROM ${state.migrations} WHERE name = ANY ($1::text[])`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, { by: r.applied_by, durationMs: r.duration_ms }]));
}

/** Whether the tracking row of `name` exists: how a lost COMMIT is resolved. */
export async function isApplied(db: Pick<UnitContext, "rows">, names: StateNames, name: string): Promise<boolean> {
  return (await db.rows(`SELECT 1 FROM ${names.migrations} WHERE name = $1`, [name])).length > 0;
}
