import type { Gateway } from "../gateway/gateway.js";

/** Whether one of pgkeel's tables exists: read-only paths treat a missing one as empty instead of creating it. */
export async function stateTableExists(gw: Gateway, table: string): Promise<boolean> {
  const [row] = await gw.query<{ t: string | null }>("check pgkeel state", "SELECT to_regclass($1)::text AS t", [table]);
  return !!row?.t;
}
