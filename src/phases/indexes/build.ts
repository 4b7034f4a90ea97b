import { DatabaseError } from "../../errors.js";
import type { PhaseContext } from "../context.js";
import { withTimeouts } from "../session-settings.js";
import { indexState } from "../../catalog/objects.js";
import type { DeclaredIndex } from "./declared.js";
import { settleIndex, type IndexRef } from "./settle.js";


/**
 * Builds one declared index concurrently, once across all runners: under a
 * claim, after settling any leftover of an interrupted build, with the
 * statement timeout the file asks for (none by default). A build cut by a lost
 * connection is settled again and rebuilt by the gateway's retry.
 */
export async function buildIndex(idx: DeclaredIndex, c: PhaseContext, as: IndexRef = idx.ref): Promise<"this-run" | "another-runner" | "already-valid"> {
  const onWait = () => c.emit({ type: "waiting", what: `index ${as.name}`, holder: "a build running in another session" });
  const valid = async () => (await c.gw.executeWithRetry({ name: `check index ${as.name}`, run: (ctx) => indexState(ctx, as) })) === "valid";
  if (await valid()) return "already-valid";
  const claimed = await c.claims.withClaim(
    `index:${as.schema ?? ""}.${as.name}`,
    valid,
    async () => {
      const t = performance.now();
      const stopProgress = watchProgress(as, c, t);
      try {
        await c.gw.executeWithRetry({
          name: `index ${as.name} (${idx.file}:${idx.line})`,
          run: async (ctx) => {
            if ((await settleIndex(ctx, as, onWait)) === "valid") return;
            await ctx.query(`INSERT INTO ${c.names.indexBuilds} (index_name, owner) VALUES ($1, $2)`, [as.name, c.claims.owner]);
            await withTimeouts(ctx, c, { statement_timeout: idx.statementTimeout }, `${idx.file}:${idx.line}: building index ${idx.ref.name}`, () =>
              ctx.query(idx.buildSql(as.name)),
            );
          },
          resolve: async (ctx) =>
            (await settleIndex(ctx, as, onWait)) === "valid" ? { outcome: "committed", value: undefined } : { outcome: "not-committed" },
        });
      } catch (e) {
        // A failed build (duplicate keys, say) leaves an INVALID index: drop it, then report.
        await c.gw.executeWithRetry({ name: `drop leftover of ${as.name}`, run: (ctx) => settleIndex(ctx, as, onWait) }).catch(() => {});
        throw e instanceof DatabaseError ? e.at({ file: idx.file, line: idx.line, column: idx.column }) : e;
      } finally {
        stopProgress();
      }
      c.emit({ type: "index-done", name: as.name, ms: Math.round(performance.now() - t), by: "this-run" });
    },
    (holder) => c.emit({ type: "waiting", what: `index ${as.name}`, holder }),
  );
  return claimed.ran ? "this-run" : "another-runner";
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
