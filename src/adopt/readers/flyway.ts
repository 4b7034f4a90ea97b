import { compareVersions, findTable, leadingNumber, type ToolHistory, type ToolReader } from "../history.js";

/**
 * Flyway: `flyway_schema_history`, one row per event in installed_rank order.
 * Applied: successful versioned rows, less those a later DELETE (repair) or UNDO
 * row took back; a BASELINE row covers every version at or below it; the
 * SCHEMA row is a marker; repeatable rows (no version) have no pgkeel equivalent.
 */
export const flyway: ToolReader = {
  table: "flyway_schema_history",
  /** `V1_1__name` (or `1_1__name`) has version 1.1; otherwise the leading digits. */
  fileVersion(fileName) {
    return /^[Vv]?(\d+(?:[._]\d+)*)__/.exec(fileName)?.[1] ?? leadingNumber(fileName);
  },
  /** Flyway's own equality: parts split on "." or "_", leading zeros and trailing zero parts ignored. */
  normalize(version) {
    const parts = version.split(/[._]/).map((p) => (/^\d+$/.test(p) ? p.replace(/^0+(?=\d)/, "") : p));
    while (parts.length > 1 && parts.at(-1) === "0") parts.pop();
    return parts.join(".");
  },
  async read(gw, table) {
    const t = await findTable(gw, table, "flyway");
    const rows = await gw.query<{ version: string | null; type: string; script: string; success: boolean }>(
      "read flyway history",
      `SELECT version, type, script, success FROM ${t} ORDER BY installed_rank`,
    );
    const applied = new Map<string, { id: string; name: string; version: string }>();
    const skipped: { id: string; reason: string }[] = [];
    let upTo: ToolHistory["upTo"];
    for (const r of rows) {
      if (r.type === "SCHEMA") continue;
      if (!r.success) {
        skipped.push({ id: r.script, reason: "failed in Flyway" });
        continue;
      }
      if (r.version === null) {
        skipped.push({ id: r.script, reason: "a repeatable migration: pgkeel has none; make it a new migration" });
        continue;
      }
      const key = this.normalize(r.version);
      if (r.type === "DELETE" || r.type.startsWith("UNDO")) applied.delete(key);
      else if (r.type === "BASELINE") {
        if (!upTo || compareVersions(key, upTo.version) > 0) upTo = { version: key, id: `baseline at version ${r.version}` };
      } else {
        // JDBC migrations record a class name, SQL ones a path: the name is the last part, without extension.
        const base = r.script.split(/[/\\]/).at(-1)!.replace(/\.sql$/i, "");
        applied.set(key, { id: r.script, name: base.includes("__") ? base : base.split(".").at(-1)!, version: r.version });
      }
    }
    return { entries: [...applied.values()], skipped, ...(upTo && { upTo }) };
  },
};
