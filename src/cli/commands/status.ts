import { gate } from "../check.js";
import { stateStyle } from "../colour.js";
import type { BackfillStatus } from "../../phases/backfill/phase.js";
import { plural } from "../output.js";
import { fleetStatus } from "../../fleet/read.js";
import { fleetOptions, withFleetRead, type FleetFlags } from "../with-fleet.js";
import { count, timeLeft } from "../progress-line.js";
import { withKeel, type CommandHost } from "../with-keel.js";

/** `status [--json]`: every migration, index and backfill with its state. */
export function registerStatus({ cli, flags, setExit }: CommandHost): void {
  fleetOptions(cli.command("status"), false)
    .description("every migration, index and backfill with its state")
    .option("--json", "print one JSON object")
    .option("--check", "CI gate: exit 4 on drift, 7 when anything is pending, else 0")
    .action(async (o: { json?: boolean; check?: boolean } & FleetFlags) => {
      const json = o.json || flags().json;
      if (o.fleet) {
        return setExit(
          await withFleetRead({ ...flags(), json }, o, async (opts, out) => {
            const s = await fleetStatus(opts);
            if (json) out.result(JSON.stringify({ fleet: o.fleet, members: s.members }));
            else {
              for (const m of s.members) {
                const pending = m.migrations.filter((x) => x.state !== "applied").length + m.indexes.filter((x) => x.state !== "valid").length + m.backfills.filter((x) => x.state !== "done").length;
                out.result(`${out.paint.out(stateStyle(m.state), m.state.padEnd(12))}${m.schema === undefined ? m.target : `${m.schema} (${m.target})`}${pending ? `  ${plural(pending, "item")} not done` : ""}${m.error ? `  ${m.error}` : ""}`);
              }
              const failed = s.members.filter((m) => m.state === "failed" || m.state === "unreachable").length;
              out.result(`fleet ${o.fleet}: ${failed} failed of ${plural(s.members.length, "member")}; ${s.members.filter((m) => m.state === "done").length} done`);
            }
            if (!o.check) return 0;
            return s.exit || (s.members.some((m) => m.state !== "done") ? 7 : 0);
          }),
        );
      }
      setExit(
        await withKeel({ ...flags(), json }, false, async (keel, out) => {
          const s = await keel.status();
          if (json) {
            out.result(JSON.stringify(s));
            return o.check ? gate(s, out) : 0;
          }
          const state = (st: string) => out.paint.out(stateStyle(st), st.padEnd(8));
          for (const m of s.migrations) out.result(`migration  ${state(m.state)} ${m.name}${m.outOfOrder ? "  (out of order)" : ""}${m.waitingOn ? `  (waiting on backfill ${m.waitingOn})` : ""}`);
          for (const i of s.indexes) out.result(`index      ${state(i.state)} ${i.name} on ${i.table}`);
          for (const b of s.backfills) out.result(`backfill   ${state(b.state)} ${b.name} (${backfillDetail(b)})`);
          if (!s.migrations.length && !s.indexes.length && !s.backfills.length) out.result("nothing declared");
          return o.check ? gate(s, out) : 0;
        }),
      );
    });
}


/** "1,200 rows; 4 workers: 3 working, 1 waiting; 5,000 rows/s; about 20 s left", or "..., paused; ...". */
function backfillDetail(b: BackfillStatus): string {
  const parts = [`${plural(b.rows, "row")}${b.paused ? ", paused" : ""}`];
  if (b.workers.length) {
    const by = new Map<string, number>();
    for (const w of b.workers) by.set(w.state, (by.get(w.state) ?? 0) + 1);
    parts.push(`${plural(b.workers.length, "worker")}: ${[...by].map(([st, n]) => `${n} ${st}`).join(", ")}`);
    if (b.throttle && !b.paused) parts.push(`held back: ${b.throttle}`);
    if (b.rowsPerSecond > 0) parts.push(`${count(b.rowsPerSecond)} rows/s`, ...(timeLeft(b.etaSeconds) ? [timeLeft(b.etaSeconds)!] : []));
  }
  return parts.join("; ");
}
