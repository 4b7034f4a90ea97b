import { UsageError } from "../errors.js";
import type { UnitContext } from "../gateway/gateway.js";
import { durationMs } from "../sql/directives.js";
import { quoteLiteral } from "../state/quote.js";
import type { PhaseContext } from "./context.js";

/** Timeouts a statement outside a transaction must run with (SET LOCAL cannot reach it). */
export interface Timeouts {
  readonly statement_timeout?: string;
  readonly lock_timeout?: string;
}

/**
 * Runs `work` with the given timeouts on this session. A session SET is only
 * safe on a connection of our own: behind a transaction-mode pooler it would
 * leak to other clients and need not reach the statement's server connection,
 * so there pgkeel refuses, naming `what` and the fix, unless the session
 * already has the values.
 */
export async function withTimeouts(ctx: UnitContext, c: PhaseContext, timeouts: Timeouts, what: string, work: () => Promise<unknown>): Promise<void> {
  const wanted = Object.entries(timeouts).filter((e): e is [string, string] => e[1] !== undefined);
  if (!wanted.length) {
    await work();
    return;
  }
  const current = await ctx.rows<{ name: string; ms: string }>(
    "SELECT name, setting AS ms FROM pg_settings WHERE name = ANY ($1::text[])",
    [wanted.map(([name]) => name)],
  );
  const differ = wanted.filter(([name, value]) => Number(current.find((r) => r.name === name)?.ms) !== durationMs(value));
  if (!differ.length) {
    await work();
    return;
  }
  const asked = differ.map(([n, v]) => `${n} ${v}`).join(" and ");
  const pooler = await c.pooler();
  if (pooler === "transaction" || pooler === "statement") {
    throw new UsageError(
      `${what} needs ${asked}, but this session has other values and the URL goes through a ${pooler}-mode pooler, where pgkeel sets no session state. Run this phase with a direct or session-mode URL (--via direct or --url), or give the role these settings.`,
    );
  }
  for (const [name, value] of differ) await ctx.query(`SET ${name} = ${quoteLiteral(value)}`);
  try {
    await work();
  } finally {
    for (const [name] of differ) await ctx.query(`RESET ${name}`).catch(() => {});
  }
}
