import { findIndex } from "../../catalog/objects.js";
import type { Gateway } from "../../gateway/gateway.js";
import { liveIndex, sameDefinition } from "./compare.js";
import type { DeclaredIndex } from "./declared.js";
import type { IndexRef } from "./settle.js";

/** Whether the index `name` in `schema` (found on its table) has the declared definition. */
export async function definedAsDeclared(gw: Gateway, idx: DeclaredIndex, schema: string, name: string): Promise<boolean> {
  const live = await liveIndex(gw, { schema, name });
  return live !== undefined && (await sameDefinition(gw, idx, live));
}

/** Whether `ref` (the declared index or its replacement) is valid, on its table, and defined as declared. */
export async function validAsDeclared(gw: Gateway, idx: DeclaredIndex, ref: IndexRef): Promise<boolean> {
  const found = await gw.executeWithRetry({ name: `state of ${ref.name}`, run: (ctx) => findIndex(ctx, { schema: ref.schema, name: ref.name }, ref.table) });
  return found?.state === "valid" && (await definedAsDeclared(gw, idx, found.schema, ref.name));
}
