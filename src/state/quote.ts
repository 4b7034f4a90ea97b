/** Quoting for the SQL pgkeel writes itself (tracking rows go in the migration's one message). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal that reads the same whatever `standard_conforming_strings` is. */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("NUL bytes cannot be stored in PostgreSQL text");
  const body = value.replace(/'/g, "''");
  return body.includes("\\") ? `E'${body.replace(/\\/g, "\\\\")}'` : `'${body}'`;
}
