import { withKeel, type CommandHost } from "../with-keel.js";

const poolerNotes: Partial<Record<string, string>> = {
  transaction: " (pgkeel uses no session state here)",
  statement: " (no transaction may span round trips here: code migrations and code backfills need a transaction-mode or direct URL)",
};

/** `doctor [--json]`: what pgkeel found about the server and the way to it. */
export function registerDoctor({ cli, flags, setExit }: CommandHost): void {
  cli
    .command("doctor")
    .description("server version, TLS, pooler mode, round-trip time, privileges")
    .option("--json", "print one JSON object")
    .action(async (o: { json?: boolean }) => {
      const json = o.json || flags().json;
      setExit(
        await withKeel({ ...flags(), json }, false, async (keel, out) => {
          const target = await keel.target();
          const d = await keel.doctor();
          if (json) return out.result(JSON.stringify({ target: target.display, ...d }));
          out.result(`target:          ${target.display}`);
          out.result(`server version:  ${d.serverVersion} (${d.supported ? "supported" : "not supported: see the warning below"})`);
          out.result(`tls:             ${d.tls ? "yes" : "no"}`);
          out.result(`pooler:          ${d.pooler}${poolerNotes[d.pooler] ?? ""}`);
          out.result(`round trip:      ${d.rttMs} ms`);
          out.result(`role, database:  ${d.user}, ${d.database}`);
          out.result(`can create in ${d.schema}: ${d.canCreate ? "yes" : "NO"}${d.schemaExists ? "" : " (schema not created yet)"}`);
          for (const w of d.warnings) out.result(`warning:         ${w}`);
        }),
      );
    });
}
