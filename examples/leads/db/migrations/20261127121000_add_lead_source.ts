// A code migration: checks the catalog, then changes the schema in the same transaction.
import type { MigrationDb } from "pgkeel";

export async function up(db: MigrationDb): Promise<void> {
  if (!(await db.columnExists("leads", "source"))) {
    await db.sql("ALTER TABLE leads ADD COLUMN source text");
  }
  await db.sql("CREATE TABLE IF NOT EXISTS lead_sources (name text PRIMARY KEY)");
  for (const name of ["web", "referral", "event"]) {
    await db.sql("INSERT INTO lead_sources (name) VALUES ($1) ON CONFLICT DO NOTHING", [name]);
  }
}
