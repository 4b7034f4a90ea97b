import { gate } from "../check.js";
import { fleetPlan } from "../../fleet/read.js";
import { fleetOptions, withFleetRead, type FleetFlags } from "../with-fleet.js";
import { withKeel, type CommandHost } from "../with-keel.js";

/** `plan`: what `run` would do, statement by statement, with the locks, findings and the sessions in the way. */
export function registerPlan({ cli, flags, setExit }: CommandHost): void {
  fleetOptions(cli.command("plan"), false)
    .description("what run would do, statement by statement, with locks, safety findings and the sessions that would block it now")
    .option("--check", "CI gate: exit 4 on drift, 6 when a pending statement would be refused as unsafe, 7 when anything is pending, else 0")
    .action(async (o: { check?: boolean } & FleetFlags) => {
      if (o.fleet) {
        return setExit(
          await withFleetRead(flags(), o, async (opts, out) => {
            const p = await fleetPlan(opts);
            if (flags().json) out.result(JSON.stringify({ fleet: o.fleet, members: p.members }));
            else
              for (const m of p.members) {
                out.result(`${m.schema === undefined ? m.target : `${m.schema} (${m.target})`}: ${m.error ? `${m.state} (exit ${m.exit}): ${m.error}` : m.statements.length ? "" : "nothing to do"}`);
                for (const st of m.statements) out.result(`  ${st.file} line ${st.line}: ${st.kind}, lock ${st.lock}${st.warnings.length ? ` (${st.warnings.length} warning${st.warnings.length === 1 ? "" : "s"})` : ""}`);
              }
            if (p.exit) return p.exit;
            if (!o.check) return 0;
            // As the single-database gate: drift first, then unsafe, then pending; each member's reason on stderr.
            for (const m of p.members) if (m.check) out.log(`${m.schema === undefined ? m.target : `${m.schema} (${m.target})`}: ${m.why}`);
            const codes = p.members.map((m) => m.check);
            return ([4, 6, 7] as const).find((c) => codes.includes(c)) ?? 0;
          }),
        );
      }
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const plan = await keel.plan();
          const unsafe = plan.flatMap((p) => p.findings ?? []).filter((f) => f.level === "error" && f.allowed === undefined);
          const verdict = async () => {
            if (!o.check) return 0;
            const code = gate(await keel.status(), out);
            if (code !== 7 || !unsafe.length) return code;
            out.log(`check: ${unsafe.length} pending statement${unsafe.length === 1 ? "" : "s"} would be refused as unsafe (exit 6)`);
            return 6;
          };
          // Loaded only when there is something to print: every command registers at start-up.
          const busy = plan.some((p) => p.findings?.length || p.blockedBy?.length);
          const [{ blockerWords }, { findingText }] = busy ? await Promise.all([import("../../safety/blockers.js"), import("../../safety/format.js")]) : [{ blockerWords: String }, { findingText: String }];
          if (flags().json) {
            out.result(JSON.stringify({ statements: plan }));
            return verdict();
          }
          if (!plan.length) out.result("nothing to do");
          let current = "";
          for (const p of plan) {
            if (p.migration !== current) {
              current = p.migration;
              out.result(`${p.file}${p.transactional ? "" : "  (no transaction: statement by statement)"}`);
            }
            out.result(`  line ${p.line}: ${p.kind}, lock ${p.lock}`);
            // Findings print in full below; other warnings (a held migration, an unanalysed one) as lines.
            const fromFindings = new Set((p.findings ?? []).map((f) => `${f.rule}: ${f.message}`));
            for (const w of p.warnings) if (!fromFindings.has(w)) out.result(`    warning: ${w}`);
            for (const f of p.findings ?? []) out.result(findingText(f, "    "));
            for (const b of p.blockedBy ?? []) out.result(`    blocked now by ${blockerWords(b)}`);
          }
          return verdict();
        }),
      );
    });
}
