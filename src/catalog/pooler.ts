import type { Gateway } from "../gateway/gateway.js";

export type PoolerMode = "none" | "session" | "transaction" | "unknown";

const backendPid = "SELECT pg_backend_pid() AS pid";

/**
 * Finds out whether connections go through a pooler, and in which mode.
 *
 * A pooler answers the startup with its own cancel key, so the pid it announces
 * differs from `pg_backend_pid()`. To tell the modes apart, a second client asks
 * for its backend while the first sits idle between transactions: a
 * transaction-mode pooler hands it the same server connection, a session-mode
 * pooler never can.
 */
export async function detectPooler(gw: Gateway): Promise<PoolerMode> {
  if (gw.driver.kind === "pglite") return "none";
  return gw.executeWithRetry({
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
}
