import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { FaultProxy } from "../support/proxy.js";
import { startCli, until } from "./cli.js";

describe("status --check and plan --check (CI gates)", () => {
  it("exit 7 while anything is pending, 0 once run, 4 on drift", async () => {
    const url = await freshDatabase("gate");
    const cwd = makeProject({
      "db/migrations/001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, v int);\nINSERT INTO t (id) SELECT generate_series(1, 10);",
      "db/indexes/t.sql": "CREATE INDEX t_v ON t (v);",
      "db/backfills/001_fill.sql": "-- pgkeel:backfill table=t key=id batch=5\nUPDATE t SET v = id WHERE id BETWEEN :from AND :to;",
    });
    for (const cmd of ["status", "plan"]) {
      const r = await runCli([cmd, "--check", "--url", url], { cwd });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(7);
      expect(r.stderr).toContain("check: pending: migration 001_t, index t_v (missing), backfill 001_fill (pending) (exit 7)");
    }
    expect((await runCli(["run", "--url", url], { cwd })).code).toBe(0);
    for (const cmd of ["status", "plan"]) expect((await runCli([cmd, "--check", "--url", url], { cwd })).code, cmd).toBe(0);
    // Without --check, pending work is not a failure.
    writeFileSync(join(cwd, "db/migrations/002_u.sql"), "CREATE TABLE u (id int);");
    expect((await runCli(["status", "--url", url], { cwd })).code).toBe(0);
    expect((await runCli(["status", "--check", "--json", "--url", url], { cwd })).code).toBe(7);
    writeFileSync(join(cwd, "db/migrations/001_t.sql"), "CREATE TABLE t (id bigint PRIMARY KEY, v int);");
    for (const cmd of ["status", "plan"]) {
      const r = await runCli([cmd, "--check", "--url", url], { cwd });
      expect(r.code, cmd).toBe(4);
      expect(r.stderr).toContain("check: drift: migration 001_t changed (exit 4)");
    }
  });
});

describe("--dry-run", () => {
  it("prints the messages migrate sends, byte for byte, says so first, and writes nothing", async () => {
    const url = await freshDatabase("dry");
    const cwd = makeProject({
      "db/migrations/001_a.sql": "CREATE TABLE a (id int PRIMARY KEY, v text);\nINSERT INTO a VALUES (1, 'x');",
      "db/migrations/002_b.sql": "-- pgkeel:lock-timeout 2s\n-- pgkeel:statement-timeout 30s\nALTER TABLE a ADD COLUMN w text;",
      "db/migrations/003_c.sql": "-- pgkeel:no-transaction\nCREATE INDEX CONCURRENTLY a_v ON a (v);",
    });
    const dry = await runCli(["migrate", "--dry-run", "--url", url], { cwd });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.split("\n")[0]).toBe("-- pgkeel dry run: nothing was changed. The SQL migrate would send now, one message per block.");
    expect(dry.stderr.split("\n")[0]).toBe("pgkeel: dry run: nothing will be changed");
    expect(await admin(url, "SELECT count(*)::int AS n FROM pg_class WHERE relnamespace <> ALL (ARRAY['pg_catalog'::regnamespace, 'information_schema'::regnamespace]) AND relnamespace::regnamespace::text NOT LIKE 'pg_toast%'")).toEqual([{ n: 0 }]);
    expect(await admin(url, "SELECT to_regnamespace('pgkeel') AS s")).toEqual([{ s: null }]);

    // The real run through a proxy that records every simple query.
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    try {
      const real = await runCli(["migrate", "--url", proxy.url(url)], { cwd });
      expect(real.code, real.stderr).toBe(0);
    } finally {
      await proxy.stop();
    }
    // The runner's identity (host:pid:random) is the one part that differs between two processes.
    const anon = (s: string) => s.replace(/'[^'\s]+:\d+:[0-9a-f]{8}'/g, "'<runner>'");
    const blocks = dry.stdout.split(/\n\n-- [^\n]*\n/).slice(1).map((b) => anon(b.trimEnd()));
    const sent = proxy.sent.map((q) => anon(q.trimEnd()));
    expect(blocks[0]).toContain("SET LOCAL lock_timeout = '2s'");
    expect(blocks[0]).toContain("SET LOCAL statement_timeout = '30s'");
    expect(sent).toContain(blocks[0]);
    // A statement run alone is a message of its own (between its fenced start mark and its done mark).
    expect(blocks).toContain("CREATE INDEX CONCURRENTLY a_v ON a (v)");
    expect(sent).toContain("CREATE INDEX CONCURRENTLY a_v ON a (v)");
  });
});

describe("wait", () => {
  it("prints each failed attempt's cause and exits 0 as soon as the database accepts a login", async () => {
    const url = await freshDatabase("wait");
    const u = new URL(url);
    const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
    proxy.refusing = true;
    try {
      const w = startCli(["wait", "--timeout", "60s", "--url", proxy.url(url)], makeProject({}));
      await until("two failed attempts", () => /attempt 2 failed/.test(w.stderr()));
      proxy.refusing = false;
      const r = await w.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/wait: attempt 1 failed \(ECONNRESET[^)]*\); next attempt in \d+ ms/);
      expect(r.stderr).toMatch(/wait: the database accepts logins \(attempt \d+, after \d+ ms\)/);
    } finally {
      await proxy.stop();
    }
  });

  it("gives up with exit 3 after --timeout; a refused login is exit 2 at once", async () => {
    const cwd = makeProject({});
    const r = await runCli(["wait", "--timeout", "1s", "--url", "postgres://x@127.0.0.1:1/db"], { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/wait: no login within 1 s: gave up after \d+ attempts; last cause: cannot reach 127\.0\.0\.1:1: is the server running\? \(ECONNREFUSED\)\. To keep trying longer, raise --timeout$/m);
    const url = new URL(await freshDatabase("wait_login"));
    url.password = "wrong-password";
    const t = Date.now();
    const bad = await runCli(["wait", "--url", url.toString()], { cwd });
    expect(bad.code, bad.stderr).toBe(2);
    expect(Date.now() - t).toBeLessThan(20_000);
    expect(bad.stderr).not.toContain("wrong-password");
    expect((await runCli(["wait", "--timeout", "soon", "--url", url.toString()], { cwd })).code).toBe(2);
  });
});
