import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, runCli } from "../support/project.js";
import { FaultProxy } from "../support/proxy.js";
import { testGateway } from "../support/gateway.js";
import { startEmbedded, type EmbeddedServer } from "../support/servers.js";
import { makeCerts, type TestCerts } from "../support/tls.js";

/** TLS follows the URL with libpq's meaning (SPEC section 3), on a server of its own with ssl=on. */
let server: EmbeddedServer | undefined;
let certs: TestCerts | undefined;

beforeAll(async () => {
  certs = makeCerts();
  if (certs) server = await startEmbedded({ tls: { cert: certs.cert, key: certs.key } });
}, 120_000);
afterAll(async () => {
  await server?.shutdown();
});

function url(params: Record<string, string>, base = server!.url): string {
  const u = new URL(base);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

async function doctor(u: string) {
  const r = await runCli(["doctor", "--json", "--max-retries", "2", "--retry-cap", "50", "--url", u], { cwd: makeProject({}) });
  return { ...r, report: r.code === 0 ? JSON.parse(r.stdout) : undefined };
}

describe("TLS", () => {
  it("sslmode=require encrypts without verifying; sslmode=disable does not encrypt", async (ctx) => {
    if (!certs) ctx.skip();
    expect((await doctor(url({ sslmode: "require" }))).report).toMatchObject({ tls: true });
    expect((await doctor(url({ sslmode: "disable" }))).report).toMatchObject({ tls: false });
  });

  it("sslmode=verify-full with the right root certificate connects", async (ctx) => {
    if (!certs) ctx.skip();
    const r = await doctor(url({ sslmode: "verify-full", sslrootcert: certs!.ca }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ tls: true });
  });

  it("sslmode=verify-full with another root certificate: exit 2 at once, naming the certificate problem", async (ctx) => {
    if (!certs) ctx.skip();
    const r = await doctor(url({ sslmode: "verify-full", sslrootcert: certs!.otherCa }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/certificate/i);
    expect(r.stderr).not.toMatch(/retry/);
  });

  it("a TLS connection reset mid-session is retried on a new connection", async (ctx) => {
    if (!certs) ctx.skip();
    const u = new URL(server!.url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    const t = testGateway(proxy.url(url({ sslmode: "require" })));
    try {
      expect(await t.gw.query("warm", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).toEqual([{ ssl: true }]);
      proxy.dropAll("reset");
      await new Promise((r) => setTimeout(r, 50));
      const rows = await t.gw.executeWithRetry({
        name: "after reset",
        run: async (db) => {
          if (db.attempt === 1) proxy.dropAll("reset");
          return db.rows("SELECT pg_sleep(0.1), 1 AS one");
        },
      });
      expect(rows).toEqual([{ pg_sleep: "", one: 1 }]);
      expect(t.retries().length).toBeGreaterThanOrEqual(1);
      expect(t.retries().every((e) => e.type === "retry" && e.kind === "connection")).toBe(true);
    } finally {
      await t.gw.close();
      await proxy.stop();
    }
  });
});
