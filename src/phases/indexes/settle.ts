import { indexState, type TableRef } from "../../catalog/objects.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { quoteIdent } from "../../state/quote.js";

/** An index by name, in its table's schema when the file names one. */
export interface IndexRef {
  readonly schema?: string;
  readonly name: string;
}

export function qualifiedIndex(ref: IndexRef): string {
  return ref.schema ? `${quoteIdent(ref.schema)}.${quoteIdent(ref.name)}` : quoteIdent(ref.name);
}

/**
 * Brings an index whose build may have been interrupted to a state pgkeel can
 * act on (SPEC guarantee 3): waits while some session is still building it,
 * and drops an INVALID leftover concurrently. Ends "valid" (nothing to build)
 * or "missing" (build it).
 */
export async function settleIndex(
  db: Pick<UnitContext, "rows" | "query">,
  ref: IndexRef,
  onWait: () => void,
  pollMs = 500,
): Promise<"valid" | "missing"> {
  let announced = false;
  for (;;) {
    const state = await indexState(db, ref as TableRef);
    if (state === "valid" || state === "missing") return state;
    if (state === "invalid") {
      await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualifiedIndex(ref)}`);
      continue;
    }
    if (!announced) {
      onWait();
      announced = true;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
