import type { Gateway } from "../gateway/gateway.js";
import { isStatementModeRefusal } from "../gateway/classify.js";

export type PoolerMode = "none" | "session" | "transaction" | "statement" | "unknown";

const backendPid = "SELECT pg_backend_pid() AS pid";

/**
 * Finds out whether connections go through a pooler, and in which mode.
 *
 * A pooler answers the startup with its own cancel key, so the pid it announces
 * differs from `pg_backend_pid()`. To tell the modes apart, a second client asks
 * for its backend while the first sits idle between transactions: a
 * transaction- or statement-mode pooler hands it the same server connection, a
 * session-mode pooler never can. The last two differ only in what they refuse:
 * see `refusesOpenTransaction`.
 */
export async function detectPooler(gw: Gateway): Promise<PoolerMode> {
  if (gw.driver.kind === "pglite") return "none";
  const mode = await gw.executeWithRetry<PoolerMode>({
    name: "detect pooler",
    run: async (first) => {
      const [own] = await first.rows<{ pid: number }>(backendPid);
      if (first.connection.announcedPid === undefined) return "unknown";
      if (first.connection.announcedPid === own?.pid) return "none";
      for (let round = 0; round < 4; round++) {
        const [a] = await first.rows<{ pid: number }>(backendPid);
        const [b] = await gw.query<{ pid: number }>("detect pooler (second client)", backendPid);
        if (a?.pid === b?.pid) return "transaction";
      }
      return "session";
    },
  });
  return mode === "transaction" && (await refusesOpenTransaction(gw)) ? "statement" : mode;
}

/** Thrown out of the probe's unit, so the gateway drops the connection the pooler closed. */
class StatementModeFound extends Error {}

/**
 * A statement-mode pooler closes a client whose message ends inside a
 * transaction. The probe is one `BEGIN READ ONLY` in a unit of its own: it takes
 * no lock and writes nothing; a transaction-mode pooler keeps it open until the
 * ROLLBACK that follows, a statement-mode one closes the client and says why.
 */
async function refusesOpenTransaction(gw: Gateway): Promise<boolean> {
  try {
    return await gw.executeWithRetry({
      name: "detect statement-mode pooler",
      run: async (db) => {
        try {
          await db.query("BEGIN READ ONLY");
        } catch (e) {
          throw isStatementModeRefusal(e) ? new StatementModeFound() : e;
        }
        await db.query("ROLLBACK");
        return false;
      },
    });
  } catch (e) {
    if (e instanceof StatementModeFound) return true;
    throw e;
  }
}
