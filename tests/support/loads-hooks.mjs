/** Module hooks for loads.mjs: records each bare specifier (a package) as it is resolved. */
import { appendFileSync } from "node:fs";

let log;

export function initialize(data) {
  log = data.log;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (!/^(\.|\/|node:|file:|data:)/.test(specifier)) appendFileSync(log, `${specifier}\n`);
  return resolved;
}
