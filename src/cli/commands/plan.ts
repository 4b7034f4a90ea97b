import { withKeel, type CommandHost } from "../with-keel.js";

/** `plan`: what `run` would do, statement by statement. */
export function registerPlan({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("plan")
    .description("what run would do, statement by statement, with locks and warnings")
    .action(async () => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const plan = await keel.plan();
          if (flags().json) return out.result(JSON.stringify({ statements: plan }));
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
        }),
      );
    });
}
