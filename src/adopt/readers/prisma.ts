import { findTable, leadingNumber, numbered, type ToolReader } from "../history.js";

/**
 * Prisma: `_prisma_migrations`, one row per attempt; migration_name is the
 * migration's folder name. Applied: a finished row that was not rolled back.
 */
export const prisma: ToolReader = {
  ...numbered,
  table: "_prisma_migrations",
  async read(gw, table) {
    const t = await findTable(gw, table, "prisma");
    const rows = await gw.query<{ name: string; applied: boolean; rolled_back: boolean }>(
      "read prisma history",
      `SELECT migration_name AS name,
              bool_or(finished_at IS NOT NULL AND rolled_back_at IS NULL) AS applied,
              bool_or(rolled_back_at IS NOT NULL) AS rolled_back
         FROM ${t} GROUP BY migration_name ORDER BY min(started_at), migration_name`,
    );
    return {
      entries: rows.filter((r) => r.applied).map((r) => ({ id: r.name, name: r.name, version: leadingNumber(r.name) })),
      skipped: rows
        .filter((r) => !r.applied)
        .map((r) => ({ id: r.name, reason: r.rolled_back ? "rolled back in Prisma" : "not finished in Prisma (failed or still running)" })),
    };
  },
};
