import { scan } from "./parser.js";
import { quoteIdent } from "../state/quote.js";
import type { Statement } from "./split.js";

/**
 * What pgkeel sends for a top-level plain `SET` or `RESET` of a migration that
 * runs in a transaction: the same setting made local (`SET LOCAL`, `SET LOCAL
 * name TO DEFAULT`). It holds for the rest of the migration's transaction, as the
 * file meant, and ends with it: it cannot reach the next migration on the
 * connection, nor, behind a transaction-mode pooler, another client. Undefined
 * for every other statement (`SET LOCAL` already, `RESET ALL`, `SET TRANSACTION`).
 */
export async function asLocalSet(stmt: Statement): Promise<string | undefined> {
  if (stmt.kind !== "VariableSetStmt" || stmt.node.is_local === true) return undefined;
  const kind = String(stmt.node.kind);
  const name = String(stmt.node.name ?? "");
  if (kind === "VAR_RESET") return `SET LOCAL ${settingName(name)} TO DEFAULT`;
  if (kind !== "VAR_SET_VALUE" && kind !== "VAR_SET_DEFAULT" && kind !== "VAR_SET_CURRENT") return undefined;
  const tokens = (await scan(stmt.text)).tokens.filter((t) => !/COMMENT/.test(t.tokenName));
  const bytes = Buffer.from(stmt.text);
  const [set, second, third] = tokens;
  if (!set || set.text.toUpperCase() !== "SET") return undefined;
  const word = (t: typeof second) => t?.text.toUpperCase();
  // `SET SESSION name ...` says the opposite of LOCAL: swap the word (but `SET SESSION AUTHORIZATION` is a setting's name).
  if (second && word(second) === "SESSION" && word(third) !== "AUTHORIZATION") {
    return `${bytes.subarray(0, second.start).toString()}LOCAL${bytes.subarray(second.end).toString()}`;
  }
  return `${bytes.subarray(0, set.end).toString()} LOCAL${bytes.subarray(set.end).toString()}`;
}

/** A setting's name as SET accepts it: plain when it is one (`work_mem`, `app.user_id`), else quoted. */
function settingName(name: string): string {
  return /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)*$/.test(name) ? name : quoteIdent(name);
}

/** The text to send for each statement of a transactional migration: plain SETs made local (see asLocalSet). */
export async function localSets(statements: readonly Statement[]): Promise<ReadonlyMap<number, string>> {
  const out = new Map<number, string>();
  for (const [i, s] of statements.entries()) {
    const local = await asLocalSet(s);
    if (local !== undefined) out.set(i, local);
  }
  return out;
}
