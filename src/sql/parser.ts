import { setFlagsFromString } from "node:v8";

/**
 * libpg-query (PostgreSQL's own parser, as WASM), loaded on first use: loading
 * it is most of a start-up's cost, and a run with nothing to parse (every file
 * applied and unchanged) never needs it.
 */
let lib: Promise<typeof import("libpg-query")> | undefined;

/** V8 11's default (Node 20): bytes of WASM run before a function is compiled again by the optimizing tier. */
const defaultTieringBudget = 1_800_000;

/**
 * The first parse runs enough of the parser for V8 to recompile its hot functions
 * with the optimizing tier, and the main thread then waits on that compile: 100 to
 * 150 ms on a 2-core machine, more than the parsing a run does. The budget is read
 * when the module is instantiated, so it is raised for this instance only and put
 * back for any WASM loaded after (PGlite). Only on V8 11 (Node 20), whose default
 * is known and was measured (V8 has no way to read a flag back); left alone when
 * the user set it (Node refuses it in NODE_OPTIONS, so only the command line can).
 */
async function load(): Promise<typeof import("libpg-query")> {
  const m = await import("libpg-query");
  const userSet = process.execArgv.some((a) => /wasm[-_]tiering[-_]budget/.test(a));
  if (userSet || !process.versions.v8.startsWith("11.")) return m;
  setFlagsFromString(`--wasm-tiering-budget=${100 * defaultTieringBudget}`);
  try {
    await m.loadModule();
  } finally {
    setFlagsFromString(`--wasm-tiering-budget=${defaultTieringBudget}`);
  }
  return m;
}

export async function parse(text: string): ReturnType<typeof import("libpg-query").parse> {
  return (await (lib ??= load())).parse(text);
}

export async function scan(text: string): ReturnType<typeof import("libpg-query").scan> {
  return (await (lib ??= load())).scan(text);
}

/** PostgreSQL's PL/pgSQL parser: the JSON tree of a `CREATE FUNCTION ... LANGUAGE plpgsql` body. */
export async function parsePlPgSql(text: string): Promise<unknown> {
  return (await (lib ??= load())).parsePlPgSQL(text);
}
