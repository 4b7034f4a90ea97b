import { findIndex, indexState, type IndexState } from "../../catalog/objects.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { quoteIdent } from "../../state/quote.js";

/** An index by name, in its table's schema when the file names one, on the table it is declared on. */
export interface IndexRef {
  readonly schema?: string;
  readonly name: string;
  /** The table the index is declared on: an index of this name on another table is not this one. */
  readonly table?: { readonly schema?: string; readonly name: string };
}

export function qualifiedIndex(ref: IndexRef): string {
  const schema = ref.schema ?? ref.table?.schema;
  return schema ? `${quoteIdent(schema)}.${quoteIdent(ref.name)}` : quoteIdent(ref.name);
}

/** The index as it stands on its own table (see indexState). */
export function stateOfIndex(db: Pick<UnitContext, "rows">, ref: IndexRef): Promise<IndexState> {
  return indexState(db, { schema: ref.schema, name: ref.name }, ref.table);
}

/** The same index under another name (a rebuild's replacement), on the same table. */
export function renamed(ref: IndexRef, name: string): IndexRef {
  return { ...ref, name };
}

/**
 * Brings an index whose build may have been interrupted to a state pgkeel can
 * act on (SPEC guarantee 3): waits while some session is still building it,
 * and drops an INVALID leftover concurrently. Ends "valid" (nothing to build)
 * or "missing" (build it). An index of this name on another table is left alone.
 */
export async function settleIndex(
  db: Pick<UnitContext, "rows" | "query">,
  ref: IndexRef,
  onWait: () => void,
  pollMs = 500,
): Promise<"valid" | "missing"> {
  let announced = false;
  for (;;) {
    const found = await findIndex(db, { schema: ref.schema, name: ref.name }, ref.table);
    if (!found) return "missing";
    if (found.state === "valid") return "valid";
    if (found.state === "invalid") {
      // By its schema-qualified name: the search path may hold another index of this name.
      await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${found.qualified}`);
      continue;
    }
    if (!announced) {
      onWait();
      announced = true;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
