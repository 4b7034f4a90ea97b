import { DatabaseError } from "../../errors.js";
import type { Claim } from "../../state/claims.js";
import { quoteLiteral } from "../../state/quote.js";
import type { PhaseContext } from "../context.js";
import { sessionTimeouts, withSessionSettings } from "../session-settings.js";
import type { DeclaredIndex } from "./declared.js";
import { openTransaction } from "../transaction.js";
import { settleIndex, stateOfIndex, type IndexRef } from "./settle.js";

/** The claim on an index, by schema and name (its rebuild's replacement is worked under the same claim). */
export function indexClaimKey(ref: IndexRef): string {
  return `index:${ref.schema ?? ""}.${ref.name}`;
}

/**
 * Builds one declared index concurrently, once across all runners: under a
 * claim, after settling any leftover of an interrupted build. "this-run" only
 * when this run's build made it; an index another session built while this one
 * waited is "another-runner".
 */
export async function buildIndex(idx: DeclaredIndex, c: PhaseContext): Promise<"this-run" | "another-runner" | "already-valid"> {
  const valid = async () => (await c.gw.executeWithRetry({ name: `check index ${idx.ref.name}`, run: (ctx) => stateOfIndex(ctx, idx.ref) })) === "valid";
  if (await valid()) return "already-valid";
  const claimed = await c.claims.withClaim(
    indexClaimKey(idx.ref),
    valid,
    async (claim) => {
      const t = performance.now();
      const built = await buildUnderClaim(idx, idx.ref, c, claim);
      if (built) c.emit({ type: "index-done", name: idx.ref.name, ms: Math.round(performance.now() - t), by: "this-run" });
      return built;
    },
    (holder) => c.emit({ type: "waiting", what: `index ${idx.ref.name}`, holder }),
  );
  return claimed.ran && claimed.value ? "this-run" : "another-runner";
}

/**
 * Builds `as` (the declared index, or its replacement during a rebuild) with the
 * declared definition, holding `claim`: the build is recorded in index_builds in a
 * fenced transaction (proof that the claim is still held) before it is sent, with
 * the statement timeout the file asks for (none by default). A build cut by a lost
 * connection is settled again and rebuilt by the gateway's retry. True when this
 * run's build made the index, false when another session's build did.
 */
export async function buildUnderClaim(idx: DeclaredIndex, as: IndexRef, c: PhaseContext, claim: Claim): Promise<boolean> {
  const onWait = () => c.emit({ type: "waiting", what: `index ${as.name}`, holder: "a build running in another session" });
  const what = `${idx.file}:${idx.line}: building index ${idx.ref.name}`;
  let sent = false;
  const stopProgress = watchProgress(as, c, performance.now());
  try {
    return await c.gw.executeWithRetry<boolean>({
      name: `index ${as.name} (${idx.file}:${idx.line})`,
      run: async (ctx) => {
        if ((await settleIndex(ctx, as, onWait)) === "valid") return sent;
        const settings = await sessionTimeouts(ctx, c, { statement_timeout: idx.statementTimeout }, what);
        claim.check();
        await ctx.query(
          // One implicit transaction: the fence and the record commit together.
          [
            ...openTransaction(c, true),
            claim.fence(),
            `INSERT INTO ${c.names.indexBuilds} (index_name, owner) VALUES (${quoteLiteral(as.name)}, ${quoteLiteral(claim.owner)})`,
          ].join(";\n"),
        );
        await withSessionSettings(ctx, settings, async () => {
          sent = true;
          await ctx.query(idx.buildSql(as.name));
        });
        return true;
      },
      resolve: async (ctx) => ((await settleIndex(ctx, as, onWait)) === "valid" ? { outcome: "committed", value: sent } : { outcome: "not-committed" }),
    });
  } catch (e) {
    // A failed build (duplicate keys, say) leaves an INVALID index: drop it, then report.
    await c.gw.executeWithRetry({ name: `drop leftover of ${as.name}`, run: (ctx) => settleIndex(ctx, as, onWait) }).catch(() => {});
    throw e instanceof DatabaseError ? e.at({ file: idx.file, line: idx.line, column: idx.column }) : e;
  } finally {
    stopProgress();
  }
}

/** Polls pg_stat_progress_create_index from another session while the build runs. */
function watchProgress(as: IndexRef, c: PhaseContext, started: number): () => void {
  // PGlite is one connection: a poll would only queue behind the build.
  if (c.gw.driver.kind === "pglite") return () => {};
  let stopped = false;
  const timer = setInterval(() => {
    void c.gw
      .query<{ phase: string; blocks_done: string; blocks_total: string }>(
        `progress of ${as.name}`,
        `SELECT p.phase, p.blocks_done, p.blocks_total FROM pg_stat_progress_create_index p
           JOIN pg_class i ON i.oid = p.index_relid WHERE i.relname = $1`,
        [as.name],
      )
      .then(([p]) => {
        if (p && !stopped) {
          c.emit({
            type: "index-progress",
            name: as.name,
            phase: p.phase,
            blocksDone: Number(p.blocks_done),
            blocksTotal: Number(p.blocks_total),
            elapsedMs: Math.round(performance.now() - started),
          });
        }
      })
      .catch(() => {});
  }, 1000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
