import { InputError, type SourceLocation } from "../errors.js";

/**
 * The object a user's code receives (a code migration's `db`, a code backfill's
 * `tx`), made strict: reading a member it does not have (`db.query`, a guess from
 * another library) fails at once with the members it does have, at the line of
 * the user's file that asked, instead of "db.query is not a function".
 */
export function strictApi<T extends object>(api: T, name: string, file: string, members: readonly string[]): T {
  return new Proxy(api, {
    get(target, prop, receiver) {
      // Symbols, `then` (await on the object) and Object's own members keep their usual answers.
      if (typeof prop === "symbol" || prop in target || prop === "then" || prop === "toJSON") return Reflect.get(target, prop, receiver);
      throw new InputError(callerIn(file, new Error().stack), `${name}.${prop} does not exist; ${name} offers ${members.join(", ")}`);
    },
  });
}

/** The first stack frame in `file` (a path relative to the project), as file:line:column. */
function callerIn(file: string, stack: string | undefined): SourceLocation {
  // tsx loads .ts files with a query string (`001_a.ts?tsx-namespace=...:4:12`).
  const escaped = file.split("\\").join("/").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const frame = new RegExp(`/${escaped}(?:\\?[^:\\s]*)?:(\\d+):(\\d+)`);
  for (const line of (stack ?? "").split("\n")) {
    const m = frame.exec(line);
    if (m) return { file, line: Number(m[1]), column: Number(m[2]) };
  }
  return { file };
}
