import { findIndex } from "../../catalog/objects.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { sameDefinition } from "./compare.js";
import type { DeclaredIndex } from "./declared.js";
import type { IndexRef } from "./settle.js";

/** Whether `ref` (the declared index or its replacement) is valid, on its table, and defined as declared. */
export async function validAsDeclared(db: Pick<UnitContext, "rows">, idx: DeclaredIndex, ref: IndexRef): Promise<boolean> {
  const found = await findIndex(db, { schema: ref.schema, name: ref.name }, ref.table);
  return found?.state === "valid" && (await sameDefinition(idx, found.definition));
}
