import { UsageError } from "../../errors.js";
import type { UnitContext } from "../../gateway/gateway.js";
import { statementChecksum as statementChecksumOf } from "../../sql/checksum.js";
import { forgetStep, markStepDoneByHand } from "../../state/steps.js";
import type { PhaseContext } from "../context.js";
import { openTransaction, waitForMigrateLock } from "../transaction.js";
import { compare } from "./drift.js";
import type { Migration } from "./migration.js";

export interface RepairOptions {
  /** Accept changed checksums (and, with forgetMissing, forget records) of these migrations only. */
  readonly only?: readonly string[];
  /** Delete tracking records whose file is gone. */
  readonly forgetMissing?: boolean;
  /** `NAME:STEP` (STEP counts statements from 1): record a statement of unknown outcome as done. */
  readonly markDone?: readonly string[];
  /** `NAME:STEP`: forget a statement's mark, so the next run sends it again. */
  readonly retry?: readonly string[];
}

export interface RepairChange {
  readonly action: "accept-checksum" | "forget" | "mark-done" | "retry";
  readonly migration: string;
  /** 1-based statement number, for mark-done and retry. */
  readonly step?: number;
  readonly detail: string;
}

/**
 * Puts pgkeel's records right after a person checked the database, in one
 * transaction under the migrate lock (all or nothing), returning each change:
 * - the current checksum of changed migrations is accepted (all, or `only`);
 * - with `forgetMissing`, records whose file is gone are deleted;
 * - `markDone` / `retry` resolve a non-transactional statement left in an
 *   unknown state (exit 5): mark it done, or clear it so it runs again.
 * Given only step flags, repair touches no checksum. Bad arguments change nothing (exit 2).
 */
export async function repair(c: PhaseContext, files: readonly Migration[], opts: RepairOptions = {}): Promise<RepairChange[]> {
  await c.ready();
  const steps = [...(opts.markDone ?? []).map((s) => parseStep(s, "mark-done", files)), ...(opts.retry ?? []).map((s) => parseStep(s, "retry", files))];
  const onlySteps = steps.length > 0 && !opts.only?.length && !opts.forgetMissing;
  for (const s of steps) {
    const holder = await c.claims.holder(`migration:${s.migration.name}`);
    if (holder && holder !== c.claims.owner) throw new UsageError(`repair: ${s.migration.name} is being worked on by ${holder}; repair it once that runner has stopped`);
  }
  return c.gw.executeWithRetry({
    name: "repair",
    run: async (ctx) => {
      await ctx.query([...openTransaction(c), ...waitForMigrateLock(c)].join(";\n"));
      const applied = await ctx.rows<{ name: string; checksum: string; applied_at: Date; duration_ms: number }>(
        `SELECT name, checksum, applied_at, duration_ms FROM ${c.names.migrations}`,
      );
      const status = compare(files, applied.map((a) => ({ name: a.name, checksum: a.checksum, appliedAt: new Date(a.applied_at), durationMs: a.duration_ms, fileHash: null })));
      const changes: RepairChange[] = [];
      if (!onlySteps) changes.push(...(await fixRecords(ctx, c, files, status, applied, opts)));
      const appliedNames = new Set(applied.map((a) => a.name));
      for (const s of steps) changes.push(await fixStep(ctx, c, s, appliedNames));
      await ctx.query("COMMIT");
      return changes;
    },
  });
}

async function fixRecords(
  ctx: UnitContext,
  c: PhaseContext,
  files: readonly Migration[],
  status: ReturnType<typeof compare>,
  applied: readonly { name: string; checksum: string }[],
  opts: RepairOptions,
): Promise<RepairChange[]> {
  const only = opts.only?.length ? new Set(opts.only) : undefined;
  for (const name of only ?? []) {
    const s = status.find((x) => x.name === name);
    const fixable = s?.state === "changed" || (opts.forgetMissing && s?.state === "missing");
    if (!fixable) throw new UsageError(`repair --only ${name}: ${s ? `it is ${s.state}` : "no such migration, applied or on disk"}; nothing to repair there (nothing changed)`);
  }
  const changes: RepairChange[] = [];
  for (const s of status) {
    if (only && !only.has(s.name)) continue;
    if (s.state === "changed") {
      const file = files.find((f) => f.name === s.name)!;
      const now = file.checksum;
      const was = applied.find((a) => a.name === s.name)!.checksum;
      await ctx.query(`UPDATE ${c.names.migrations} SET checksum = $2, file_hash = $3 WHERE name = $1`, [s.name, now, file.fileHash]);
      changes.push({ action: "accept-checksum", migration: s.name, detail: `accepted the edited file's checksum (${was.slice(0, 12)} -> ${now.slice(0, 12)})` });
    } else if (s.state === "missing" && opts.forgetMissing) {
      await ctx.query(`DELETE FROM ${c.names.migrations} WHERE name = $1`, [s.name]);
      await ctx.query(`DELETE FROM ${c.names.steps} WHERE migration = $1`, [s.name]);
      changes.push({ action: "forget", migration: s.name, detail: `forgot its record (applied ${s.appliedAt}; its file is gone)` });
    }
  }
  return changes;
}

interface StepArg {
  readonly action: "mark-done" | "retry";
  readonly migration: Migration;
  /** 0-based, as stored. */
  readonly index: number;
}

function parseStep(arg: string, action: StepArg["action"], files: readonly Migration[]): StepArg {
  const m = /^(.+):(\d+)$/.exec(arg);
  if (!m) throw new UsageError(`repair --${action} ${arg}: expected NAME:STEP, e.g. 20261127120000_index_leads:2 (STEP counts statements from 1)`);
  const migration = files.find((f) => f.name === m[1]);
  if (!migration) throw new UsageError(`repair --${action} ${arg}: no migration file named ${m[1]}`);
  if (migration.transactional || migration.kind !== "sql") {
    throw new UsageError(`repair --${action} ${arg}: ${migration.file} runs in one transaction, so it has no statement of unknown outcome; only no-transaction migrations have steps`);
  }
  const step = Number(m[2]);
  if (step < 1 || step > migration.statements.length) {
    throw new UsageError(`repair --${action} ${arg}: ${migration.file} has statements 1 to ${migration.statements.length}`);
  }
  return { action, migration, index: step - 1 };
}

async function fixStep(ctx: UnitContext, c: PhaseContext, s: StepArg, applied: ReadonlySet<string>): Promise<RepairChange> {
  const m = s.migration;
  if (applied.has(m.name)) throw new UsageError(`repair --${s.action} ${m.name}:${s.index + 1}: ${m.name} is applied already; its statements need no repair`);
  const at = m.kind === "sql" ? `${m.file}:${m.statements[s.index]!.line}` : m.file;
  if (s.action === "mark-done") {
    const statementChecksum = m.kind === "sql" ? await statementChecksumOf(m.statements[s.index]!.text) : null;
    const changed = await markStepDoneByHand(ctx, c.names, { migration: m.name, step: s.index, fileChecksum: m.checksum, statementChecksum: statementChecksum ?? "" }, `repair by ${c.claims.owner}`);
    return { action: s.action, migration: m.name, step: s.index + 1, detail: changed ? `statement ${s.index + 1} (${at}) recorded as done: the next run goes on after it` : `statement ${s.index + 1} (${at}) was recorded as done already` };
  }
  const cleared = await forgetStep(ctx, c.names, m.name, s.index);
  return { action: s.action, migration: m.name, step: s.index + 1, detail: cleared ? `statement ${s.index + 1} (${at}) cleared: the next run sends it again` : `statement ${s.index + 1} (${at}) had no mark: the next run sends it` };
}
