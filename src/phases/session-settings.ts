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

/** `SET LOCAL` statements for a transaction; an absent statement_timeout is the session's default. */
export function setLocal(timeouts: Timeouts): string[] {
  return [
    `SET LOCAL lock_timeout = ${timeouts.lock_timeout === undefined ? "DEFAULT" : quoteLiteral(timeouts.lock_timeout)}`,
    `SET LOCAL statement_timeout = ${timeouts.statement_timeout === undefined ? "DEFAULT" : quoteLiteral(timeouts.statement_timeout)}`,
  ];
}

/**
 * The session SETs a statement outside a transaction needs for `timeouts`, found
 * before anything is marked or sent. A session SET is only safe on a connection of
 * our own: behind a transaction-mode pooler it would leak to other clients and need
 * not reach the statement's server connection, so there (and behind a statement-mode pooler) pgkeel refuses, naming
 * `what` and the fix, unless the session already has the values. (One message
 * `SET ...; <statement>; RESET ...` would be one implicit transaction block, which
 * the statements that need this path refuse: CONCURRENTLY, VACUUM, ...)
 */
export async function sessionTimeouts(ctx: UnitContext, c: PhaseContext, timeouts: Timeouts, what: string): Promise<[string, string][]> {
  const wanted = Object.entries(timeouts).filter((e): e is [string, string] => e[1] !== undefined);
  if (!wanted.length) return [];
  const current = await ctx.rows<{ name: string; ms: string }>(
    "SELECT name, setting AS ms FROM pg_settings WHERE name = ANY ($1::text[])",
    [wanted.map(([name]) => name)],
  );
  const differ = wanted.filter(([name, value]) => Number(current.find((r) => r.name === name)?.ms) !== durationMs(value));
  const pooler = differ.length ? await c.pooler() : undefined;
  if (pooler === "transaction" || pooler === "statement") {
    const asked = differ.map(([n, v]) => `${n} ${v}`).join(" and ");
    throw new UsageError(
      `${what} needs ${asked}, but this session has other values and the URL goes through a ${pooler}-mode pooler, where pgkeel sets no session state. Run this phase with a direct or session-mode URL (--via direct or --url), or give the role these settings.`,
    );
  }
  return differ;
}

/** Runs `work` with the SETs sessionTimeouts found, reset afterwards. */
export async function withSessionSettings(ctx: UnitContext, settings: readonly [string, string][], work: () => Promise<unknown>): Promise<void> {
  for (const [name, value] of settings) await ctx.query(`SET ${name} = ${quoteLiteral(value)}`);
  try {
    await work();
  } finally {
    for (const [name] of settings) await ctx.query(`RESET ${name}`).catch(() => {});
  }
}

/** sessionTimeouts and withSessionSettings in one, for work that marks nothing first. */
export async function withTimeouts(ctx: UnitContext, c: PhaseContext, timeouts: Timeouts, what: string, work: () => Promise<unknown>): Promise<void> {
  await withSessionSettings(ctx, await sessionTimeouts(ctx, c, timeouts, what), work);
}
