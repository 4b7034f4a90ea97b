import { InputError } from "../errors.js";

/**
 * dbmate and goose keep a migration's up and down SQL in one file, split by a
 * comment, and run only the up part. pgkeel runs a whole file: a copied file
 * would undo itself (or drop a table) right after applying. Read from the
 * scanner's comment tokens, so a marker inside a string or a `$$` body is not one.
 */
const markers: readonly { tool: string; marker: string; matches(body: string): boolean }[] = [
  // dbmate cuts the file at a line starting `-- migrate:down` (its own pattern is case-sensitive).
  { tool: "dbmate", marker: "-- migrate:down", matches: (b) => /^migrate:down(\s|$)/.test(b) },
  { tool: "goose", marker: "-- +goose Down", matches: (b) => /^\+goose\s+down(\s|$)/i.test(b) },
];

/** Refuses a file holding another tool's down section, at its marker. */
export function refuseDownSection(comments: readonly { text: string; line: number; column: number }[], file: string): void {
  for (const c of comments) {
    if (!c.text.startsWith("--")) continue;
    const body = c.text.slice(2).trim();
    const m = markers.find((k) => k.matches(body));
    if (!m) continue;
    throw new InputError(
      { file, line: c.line, column: c.column },
      `"${m.marker}" starts a ${m.tool} down section: ${m.tool} runs only the part above it, but pgkeel runs the whole file, so the down SQL would run right after the up SQL. ` +
        `pgkeel has no down migrations: delete the lines from this one to the end of the file (and the up marker)`,
    );
  }
}
