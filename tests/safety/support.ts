import pg from "pg";
import { defaultTuning } from "../../src/db/driver.js";
import { pgDriver } from "../../src/db/pg.js";
import { Gateway } from "../../src/gateway/gateway.js";
import type { SqlMigration } from "../../src/phases/migrate/migration.js";
import { mustRunOutsideTransaction } from "../../src/sql/classify.js";
import { readAllows, readDirectives } from "../../src/sql/directives.js";
import { parseSqlFile } from "../../src/sql/split.js";
import { ruleIds } from "../../src/safety/rules/index.js";
import { admin, freshDatabase } from "../support/db.js";

/** The file of issue 10's "done when" (a 50,000-row `leads`, `lead_notes` referencing it). */
export const issueStatements = [
  "ALTER TABLE leads ADD COLUMN tier int NOT NULL DEFAULT 0;",
  "ALTER TABLE leads ALTER COLUMN email TYPE varchar(200);",
  "CREATE INDEX leads_name_idx ON leads (name);",
  "ALTER TABLE leads ADD CONSTRAINT leads_tier_chk CHECK (tier >= 0);",
  "ALTER TABLE lead_notes ALTER COLUMN body SET NOT NULL;",
  "ALTER TABLE leads DROP COLUMN name;",
  "UPDATE leads SET tier = 1;",
  "ALTER TABLE leads RENAME COLUMN email TO email_address;",
  "ALTER TABLE lead_notes ADD CONSTRAINT fk2 FOREIGN KEY (lead_id) REFERENCES leads(id);",
];

/** The tables every proof case starts from; `big` is filled with 50,000 rows. */
export const baseDdl = `
CREATE TABLE ref (id bigint PRIMARY KEY);
CREATE TABLE big (id bigint PRIMARY KEY, note text NOT NULL, email text, n int, code varchar(20), ref_id bigint, created_at timestamp);
CREATE INDEX big_email_idx ON big (email);
CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');`;

export const baseData = `
INSERT INTO ref SELECT generate_series(1, 1000);
INSERT INTO big SELECT g, 'note ' || g, 'u' || g || '@example.com', g, 'c' || g, 1 + g % 1000, timestamp '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 50000) g;
INSERT INTO events SELECT g, date '2025-01-01' + g % 365 FROM generate_series(1, 20000) g;`;

/** A URL whose sessions resolve unqualified names in `schema`. */
export function inSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set("options", `-c search_path=${schema}`);
  return u.toString();
}

export function gatewayFor(url: string): Gateway {
  return new Gateway(pgDriver(url, defaultTuning), { retry: { maxAttempts: 2 } });
}

/** A migration as the loader would make it, from text. */
export async function sqlMigration(name: string, text: string): Promise<SqlMigration> {
  const parsed = await parseSqlFile(text, `${name}.sql`);
  const directives = readDirectives(parsed.leadingComments, `${name}.sql`);
  return {
    kind: "sql",
    name,
    file: `db/migrations/${name}.sql`,
    checksum: "",
    fileHash: "",
    source: parsed.source,
    statements: parsed.statements,
    directives,
    allows: readAllows(parsed.comments, parsed.statements, `${name}.sql`, ruleIds),
    transactional: !directives.noTransaction && !parsed.statements.some(mustRunOutsideTransaction),
  };
}

export async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

/** Waits on a state, never on a fixed delay: polls until `check` is true (bounded). */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A fresh database with an analysed 20,000-row `posts (id, title)`, and what `extra` adds to it. */
export async function postsTable(prefix: string, extra = ""): Promise<string> {
  const url = await freshDatabase(prefix);
  await admin(url, `CREATE TABLE posts (id int PRIMARY KEY, title text); INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 20000) g; ${extra}`);
  await admin(url, "ANALYZE posts");
  return url;
}
