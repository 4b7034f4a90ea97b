import { findIndex } from "../../catalog/objects.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { sameDefinition } from "./compare.js";
import type { DeclaredIndex } from "./declared.js";
import type { IndexRef } from "./settle.js";

type Reader = Pick<UnitContext, "rows">;

/** The definition of the index on its own table, as pg_get_indexdef prints it. */
export async function liveDefinition(db: Reader, ref: IndexRef): Promise<string | undefined> {
  const found = await findIndex(db, { schema: ref.schema, name: ref.name }, ref.table);
  if (!found) return undefined;
  const [row] = await db.rows<{ def: string }>("SELECT pg_get_indexdef($1::regclass) AS def", [found.qualified]);
  return row?.def;
}

/** Whether `ref` (the declared index or its replacement) is valid and defined as declared. */
export async function validAsDeclared(db: Reader, idx: DeclaredIndex, ref: IndexRef): Promise<boolean> {
  const found = await findIndex(db, { schema: ref.schema, name: ref.name }, ref.table);
  if (found?.state !== "valid") return false;
  const def = await liveDefinition(db, ref);
  return def !== undefined && (await sameDefinition(idx, def));
}
