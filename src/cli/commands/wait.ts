import { UsageError } from "../../errors.js";
import { durationMs } from "../../sql/directives.js";
import { withKeel, type CommandHost } from "../with-keel.js";

/** `wait [--timeout 60s]`: exit 0 as soon as the database accepts a login (init containers, CI). */
export function registerWait({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("wait")
    .description("exit 0 as soon as the database accepts a login; each failed attempt is printed with its cause")
    .option("--timeout <duration>", "give up after this long (60s, 2min, 500ms; a bare number is seconds)", "60s")
    .action(async (o: { timeout: string }) => {
      setExit(
        await withKeel(flags(), false, async (keel, out) => {
          const ms = /^\d+(\.\d+)?$/.test(o.timeout) ? Number(o.timeout) * 1000 : durationMs(o.timeout);
          if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`wait --timeout needs a duration such as 60s, 2min or 500ms, got "${o.timeout}"`);
          const r = await keel.wait({ timeoutMs: ms });
          if (flags().json) return out.result(JSON.stringify({ type: "result", ...r }));
          out.log(r.attempts ? `wait: the database accepts logins (attempt ${r.attempts}, after ${r.ms} ms)` : "wait: embedded database, nothing to wait for");
        }),
      );
    });
}
