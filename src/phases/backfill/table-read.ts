import type { Gateway } from "../../gateway/gateway.js";
import { implicitUnderLockTimeout } from "../transaction.js";

/**
 * A read of the user's table before the first batch (the row estimate of a table
 * without statistics, its smallest and largest key): it takes the table's ACCESS
 * SHARE lock, so behind an ACCESS EXCLUSIVE lock (a long ALTER TABLE, or one
 * queued) it would wait without limit and without a word. It waits at most
 * `lockTimeout`, then gives `undefined` and the caller goes on without what it
 * would have learnt: the batches wait their turn under their own limits, and say so.
 * Literals only (the settings ride in the same message).
 */
export async function readUnlessLocked<R>(gw: Gateway, name: string, lockTimeout: string, sql: string): Promise<R[] | undefined> {
  return gw.executeWithRetry({
    name,
    run: async (ctx) => {
      try {
        return await ctx.rows<R>([...implicitUnderLockTimeout(lockTimeout), sql].join(";\n"));
      } catch (e) {
        if ((e as { code?: unknown }).code === "55P03") return undefined;
        throw e;
      }
    },
  });
}
