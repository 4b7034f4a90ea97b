import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import knexFactory from "knex";
import { describe, expect, it } from "vitest";
import { admin, freshDatabase } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";

/**
 * adopt --from TOOL against each tool's table as the tool makes it: created by
 * the tool itself where its npm package runs here (node-pg-migrate, knex),
 * else from the tool's documented DDL (dbmate, Prisma, Flyway, golang-migrate).
 */
const run = promisify(execFile);
const bin = (name: string) => resolve(import.meta.dirname, "../../node_modules/.bin", name);
const applied = async (url: string) => (await admin<{ name: string }>(url, "SELECT name FROM pgkeel.migrations ORDER BY name")).map((r) => r.name);
const pgkeelExists = async (url: string) => (await admin(url, "SELECT to_regnamespace('pgkeel') AS s"))[0]!.s !== null;

describe("adopt --from", () => {
  it("node-pg-migrate (pgmigrations, made by node-pg-migrate): dry run shows the mapping and writes nothing; then only the new migration runs", async () => {
    const url = await freshDatabase("adopt_npm");
    const cwd = makeProject({
      "npm/1700000000000_create-a.js": "exports.up = (pgm) => { pgm.sql('CREATE TABLE a (id int)'); };",
      "npm/1700000000001_create-b.js": "exports.up = (pgm) => { pgm.sql('CREATE TABLE b (id int)'); };",
      "db/migrations/1700000000000_create-a.sql": "CREATE TABLE a (id int);",
      "db/migrations/1700000000001_create-b.sql": "CREATE TABLE b (id int);",
      "db/migrations/1700000000002_create-c.sql": "CREATE TABLE c (id int);",
    });
    await run(bin("node-pg-migrate"), ["up", "-m", join(cwd, "npm")], { env: { ...process.env, DATABASE_URL: url } });
    const dry = await runCli(["adopt", "--from", "node-pg-migrate", "--dry-run", "--url", url], { cwd });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.split("\n")[0]).toContain("dry run: nothing is recorded");
    expect(dry.stdout).toMatch(/1700000000000_create-a\s+->\s+db\/migrations\/1700000000000_create-a\.sql\s+\(by name\)/);
    expect(dry.stdout).toContain("db/migrations/1700000000002_create-c.sql: stays pending");
    expect(await pgkeelExists(url)).toBe(false);

    const r = await runCli(["adopt", "--from", "node-pg-migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await applied(url)).toEqual(["1700000000000_create-a", "1700000000001_create-b"]);
    // CREATE TABLE a would fail if it ran again.
    const m = await runCli(["migrate", "--url", url], { cwd });
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain("applied 1700000000002_create-c");
    expect(await applied(url)).toHaveLength(3);
    // Idempotent.
    const again = await runCli(["adopt", "--from", "node-pg-migrate", "--url", url], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("0 recorded as applied, 2 already recorded");
  });

  it("knex (knex_migrations, made by knex): names carry the extension; a renamed file matches by its version", async () => {
    const url = await freshDatabase("adopt_knex");
    const cwd = makeProject({
      "knex/20240101000000_create_a.js": "exports.up = (k) => k.raw('CREATE TABLE a (id int)'); exports.down = async () => {};",
      "knex/20240102000000_add_b.js": "exports.up = (k) => k.raw('ALTER TABLE a ADD COLUMN b int'); exports.down = async () => {};",
      "db/migrations/20240101000000_create_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/20240102000000_a_gets_b.sql": "ALTER TABLE a ADD COLUMN b int;",
    });
    const k = knexFactory({ client: "pg", connection: url });
    try {
      await k.migrate.latest({ directory: join(cwd, "knex") });
    } finally {
      await k.destroy();
    }
    const r = await runCli(["adopt", "--from", "knex", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/20240101000000_create_a\.js\s+->\s+db\/migrations\/20240101000000_create_a\.sql\s+\(by name\)/);
    expect(r.stdout).toMatch(/20240102000000_add_b\.js\s+->\s+db\/migrations\/20240102000000_a_gets_b\.sql\s+\(by version\)/);
    expect(await applied(url)).toEqual(["20240101000000_create_a", "20240102000000_a_gets_b"]);
    expect(await admin(url, "SELECT applied_by LIKE 'adopted from knex by %' AS ok FROM pgkeel.migrations LIMIT 1")).toEqual([{ ok: true }]);
  });

  it("dbmate (schema_migrations(version), documented DDL): matched by version", async () => {
    const url = await freshDatabase("adopt_dbmate");
    // dbmate's PostgreSQL driver: create table if not exists schema_migrations (version varchar(128) primary key).
    // (The dbmate npm package is not used: its platform binaries other than linux-x64 are missing from this
    // registry, which leaves a lockfile that `npm ci` rejects.)
    await admin(url, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240102000000')");
    const cwd = makeProject({
      "db/migrations/20240101000000_create_a.sql": "CREATE TABLE a (id int);",
      "db/migrations/20240102000000_create_b.sql": "CREATE TABLE b (id int);",
      "db/migrations/20240103000000_create_c.sql": "CREATE TABLE c (id int);",
    });
    const r = await runCli(["adopt", "--from", "dbmate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/20240102000000\s+->\s+db\/migrations\/20240102000000_create_b\.sql\s+\(by version\)/);
    expect(await applied(url)).toEqual(["20240101000000_create_a", "20240102000000_create_b"]);
  });

  it("Prisma (_prisma_migrations, documented DDL): only finished rows that were not rolled back", async () => {
    const url = await freshDatabase("adopt_prisma");
    // The table as Prisma's schema engine creates it on PostgreSQL.
    await admin(url, `CREATE TABLE "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
    await admin(url, `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, rolled_back_at, applied_steps_count) VALUES
      ('00000000-0000-0000-0000-000000000001', 'c1', now(), '20240101000000_init', NULL, 1),
      ('00000000-0000-0000-0000-000000000002', 'c2', NULL, '20240102000000_rolled', now(), 0),
      ('00000000-0000-0000-0000-000000000003', 'c3', NULL, '20240103000000_failed', NULL, 0),
      ('00000000-0000-0000-0000-000000000004', 'c4', NULL, '20240104000000_retried', now(), 0),
      ('00000000-0000-0000-0000-000000000005', 'c4', now(), '20240104000000_retried', NULL, 1)`);
    const cwd = makeProject({
      "db/migrations/20240101000000_init.sql": "SELECT 1;",
      "db/migrations/20240102000000_rolled.sql": "SELECT 2;",
      "db/migrations/20240103000000_failed.sql": "SELECT 3;",
      "db/migrations/20240104000000_retried.sql": "SELECT 4;",
    });
    const r = await runCli(["adopt", "--from", "prisma", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("20240102000000_rolled  ->  not adopted: rolled back in Prisma");
    expect(r.stdout).toContain("20240103000000_failed  ->  not adopted: not finished in Prisma (failed or still running)");
    expect(await applied(url)).toEqual(["20240101000000_init", "20240104000000_retried"]);
  });

  it("Flyway (flyway_schema_history, documented DDL): successful versioned rows, less deleted ones; versions compared as Flyway does", async () => {
    const url = await freshDatabase("adopt_flyway");
    // The table as Flyway creates it on PostgreSQL (createMetaDataTable.sql).
    await admin(url, `CREATE TABLE "public"."flyway_schema_history" (
      "installed_rank" INT NOT NULL, "version" VARCHAR(50), "description" VARCHAR(200) NOT NULL, "type" VARCHAR(20) NOT NULL,
      "script" VARCHAR(1000) NOT NULL, "checksum" INTEGER, "installed_by" VARCHAR(100) NOT NULL,
      "installed_on" TIMESTAMP NOT NULL DEFAULT now(), "execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL);
      ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
      CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");`);
    await admin(url, `INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES
      (1, '1', 'Create a', 'SQL', 'V1__Create_a.sql', 11, 'app', 5, true),
      (2, '1.1', 'Add b', 'SQL', 'V1.1__Add_b.sql', 12, 'app', 5, true),
      (3, NULL, 'view', 'SQL', 'R__view.sql', 13, 'app', 5, true),
      (4, '3', 'Gone', 'SQL', 'V3__Gone.sql', 14, 'app', 5, true),
      (5, '3', 'Gone', 'DELETE', 'V3__Gone.sql', 14, 'app', 0, true)`);
    const cwd = makeProject({
      "db/migrations/V1__Create_a.sql": "SELECT 1;",
      "db/migrations/V1_1__add_b_renamed.sql": "SELECT 11;",
      "db/migrations/V2__Next.sql": "SELECT 2;",
    });
    const r = await runCli(["adopt", "--from", "flyway", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/V1__Create_a\.sql\s+->\s+db\/migrations\/V1__Create_a\.sql\s+\(by name\)/);
    expect(r.stdout).toMatch(/V1\.1__Add_b\.sql\s+->\s+db\/migrations\/V1_1__add_b_renamed\.sql\s+\(by version\)/);
    expect(r.stdout).toContain("R__view.sql  ->  not adopted: a repeatable migration");
    expect(r.stdout).toContain("db/migrations/V2__Next.sql: stays pending");
    expect(await applied(url)).toEqual(["V1_1__add_b_renamed", "V1__Create_a"]);
  });

  it("golang-migrate (schema_migrations(version bigint, dirty), documented DDL): every file at or below the version; refused while dirty", async () => {
    const url = await freshDatabase("adopt_golang");
    await admin(url, "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null)");
    await admin(url, "INSERT INTO schema_migrations (version, dirty) VALUES (2, true)");
    const cwd = makeProject({
      "db/migrations/000001_create_a.sql": "SELECT 1;",
      "db/migrations/000002_create_b.sql": "SELECT 2;",
      "db/migrations/000003_create_c.sql": "SELECT 3;",
    });
    const dirty = await runCli(["adopt", "--from", "golang-migrate", "--url", url], { cwd });
    expect(dirty.code).toBe(2);
    expect(dirty.stderr).toContain("is dirty at version 2");
    expect(await pgkeelExists(url)).toBe(false);

    await admin(url, "UPDATE schema_migrations SET dirty = false");
    const r = await runCli(["adopt", "--from", "golang-migrate", "--url", url], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/->\s+db\/migrations\/000001_create_a\.sql\s+\(by version range\)/);
    expect(await applied(url)).toEqual(["000001_create_a", "000002_create_b"]);
  });

  it("an applied migration that matches no file refuses the import (exit 4, nothing recorded) unless --allow-unmatched", async () => {
    const url = await freshDatabase("adopt_unmatched");
    await admin(url, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240105000000')");
    const cwd = makeProject({ "db/migrations/20240101000000_a.sql": "SELECT 1;" });
    const r = await runCli(["adopt", "--from", "dbmate", "--url", url], { cwd });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("20240105000000 (no file with version 20240105000000)");
    expect(await pgkeelExists(url)).toBe(false);
    const allowed = await runCli(["adopt", "--from", "dbmate", "--allow-unmatched", "--url", url], { cwd });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain("20240105000000  ->  NO MATCH");
    expect(await applied(url)).toEqual(["20240101000000_a"]);
    // No table: a usage error naming --table.
    const none = await runCli(["adopt", "--from", "knex", "--url", url], { cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no table knex_migrations");
  });
});
