import { createHash } from "node:crypto";
import { scan } from "./parser.js";

/** Checksum of a SQL file's tokens, so comments and whitespace are not drift. */
export function sqlChecksum(tokens: readonly string[]): string {
  return sha256(tokens.join(" "));
}

/** Checksum of one statement's tokens (comments and whitespace left out), as sqlChecksum does for a file. */
export async function statementChecksum(text: string): Promise<string> {
  const { tokens } = await scan(text);
  return sqlChecksum(tokens.filter((t) => t.tokenName !== "SQL_COMMENT" && t.tokenName !== "C_COMMENT").map((t) => t.text));
}

/** Checksum of a code file: its text with line endings and trailing spaces normalised. */
export function codeChecksum(text: string): string {
  return sha256(text.replace(/\r\n/g, "\n").replace(/[ \t]+$/gm, "").trim());
}

/**
 * What is recorded of an applied file's bytes: SHA-256 of its checksum and its
 * text (decoded as UTF-8, which encodes back to the same bytes). Bound to the
 * checksum, so a checksum changed by any other means stops it matching.
 */
export function fileHash(checksum: string, text: string): string {
  return sha256(`${checksum}\n${text}`);
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
