import { UsageError } from "../../errors.js";
import { findTable, numbered, type ToolReader } from "../history.js";

/**
 * golang-migrate: `schema_migrations(version bigint, dirty boolean)`, one row:
 * the current version; every migration at or below it is applied. Dirty means a
 * migration failed halfway, and nobody can say which of its statements ran.
 */
export const golangMigrate: ToolReader = {
  ...numbered,
  table: "schema_migrations",
  async read(gw, table) {
    const t = await findTable(gw, table, "golang-migrate");
    const rows = await gw.query<{ version: string; dirty: boolean }>("read golang-migrate state", `SELECT version::text AS version, dirty FROM ${t}`);
    const [row] = rows;
    if (!row) return { entries: [], skipped: [] };
    if (rows.length > 1) throw new UsageError(`adopt --from golang-migrate: ${t} holds ${rows.length} rows; golang-migrate keeps one (is this dbmate's table? try --from dbmate)`);
    if (row.dirty) {
      throw new UsageError(
        `adopt --from golang-migrate: ${t} is dirty at version ${row.version}: that migration failed partway. Check the database, fix it by hand, then mark the real state with golang-migrate's "force" command (force ${row.version} if it took full effect, else the version before it); nothing was recorded`,
      );
    }
    return { entries: [], upTo: { version: row.version, id: `version ${row.version}` }, skipped: [] };
  },
};
