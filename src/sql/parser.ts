/**
 * libpg-query (PostgreSQL's own parser, as WASM), loaded on first use: loading
 * it is most of a start-up's cost, and a run with nothing to parse (every file
 * applied and unchanged) never needs it.
 */
let lib: Promise<typeof import("libpg-query")> | undefined;

export async function parse(text: string): ReturnType<typeof import("libpg-query").parse> {
  return (await (lib ??= import("libpg-query"))).parse(text);
}

export async function scan(text: string): ReturnType<typeof import("libpg-query").scan> {
  return (await (lib ??= import("libpg-query"))).scan(text);
}
