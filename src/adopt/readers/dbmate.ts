import { findTable, numbered, type ToolReader } from "../history.js";

/** dbmate: `schema_migrations(version)`, the leading timestamp of each applied file. */
export const dbmate: ToolReader = {
  ...numbered,
  table: "schema_migrations",
  async read(gw, table) {
    const t = await findTable(gw, table, "dbmate");
    const rows = await gw.query<{ version: string }>("read dbmate history", `SELECT version::text AS version FROM ${t} ORDER BY version`);
    return { entries: rows.map((r) => ({ id: r.version, version: r.version })), skipped: [] };
  },
};
