import { findTable, leadingNumber, numbered, type ToolReader } from "../history.js";

/** knex: `knex_migrations(id, name, batch, migration_time)`, name = file name with its extension. */
export const knex: ToolReader = {
  ...numbered,
  table: "knex_migrations",
  async read(gw, table) {
    const t = await findTable(gw, table, "knex");
    const rows = await gw.query<{ name: string }>("read knex history", `SELECT name FROM ${t} ORDER BY id`);
    return {
      entries: rows.map((r) => {
        const name = r.name.replace(/\.(?:[cm]?[jt]s|coffee|sql)$/, "");
        return { id: r.name, name, version: leadingNumber(name) };
      }),
      skipped: [],
    };
  },
};
