import { gate } from "../check.js";
import { withKeel, type CommandHost } from "../with-keel.js";

/** `plan`: what `run` would do, statement by statement. */
export function registerPlan({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("plan")
    .description("what run would do, statement by statement, with locks and warnings")
    .option("--check", "CI gate: exit 4 on drift, 7 when anything is pending, else 0")
    .action(async (o: { check?: boolean }) => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const plan = await keel.plan();
          const verdict = async () => (o.check ? gate(await keel.status(), out) : 0);
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
            for (const w of p.warnings) out.result(`    warning: ${w}`);
          }
          return verdict();
        }),
      );
    });
}
