import { gate } from "../check.js";
import { stateStyle } from "../colour.js";
import { plural } from "../output.js";
import { withKeel, type CommandHost } from "../with-keel.js";

/** `status [--json]`: every migration, index and backfill with its state. */
export function registerStatus({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("status")
    .description("every migration, index and backfill with its state")
    .option("--json", "print one JSON object")
    .option("--check", "CI gate: exit 4 on drift, 7 when anything is pending, else 0")
    .action(async (o: { json?: boolean; check?: boolean }) => {
      const json = o.json || flags().json;
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
          for (const b of s.backfills) out.result(`backfill   ${state(b.state)} ${b.name} (${plural(b.rows, "row")})`);
          if (!s.migrations.length && !s.indexes.length && !s.backfills.length) out.result("nothing declared");
          return o.check ? gate(s, out) : 0;
        }),
      );
    });
}

