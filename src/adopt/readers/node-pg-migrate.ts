import { findTable, leadingNumber, numbered, type ToolReader } from "../history.js";

/** node-pg-migrate: `pgmigrations(id, name, run_on)`, name = file name without extension. */
export const nodePgMigrate: ToolReader = {
  ...numbered,
  table: "pgmigrations",
  async read(gw, table) {
    const t = await findTable(gw, table, "node-pg-migrate");
    const rows = await gw.query<{ name: string }>("read node-pg-migrate history", `SELECT name FROM ${t} ORDER BY run_on, id`);
    return { entries: rows.map((r) => ({ id: r.name, name: r.name, version: leadingNumber(r.name) })), skipped: [] };
  },
};
