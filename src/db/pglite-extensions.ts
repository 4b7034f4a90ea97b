import type { Extensions } from "@electric-sql/pglite";

/**
 * Contrib extensions PGlite ships that schemas commonly create (real histories
 * create pg_trgm, btree_gin, pgcrypto). PGlite offers only those it is given
 * when it opens; registering these ten adds no measurable time to opening it
 * (a `CREATE EXTENSION` unpacks one). Others it ships are left out: the ones
 * that inspect or instrument the server (pageinspect, pg_stat_statements)
 * need a server configured for them anyway.
 */
const names = ["btree_gin", "btree_gist", "citext", "fuzzystrmatch", "hstore", "ltree", "pg_trgm", "pgcrypto", "unaccent", "uuid_ossp"] as const;

export async function contribExtensions(): Promise<Extensions> {
  const modules = await Promise.all(names.map((n) => import(`@electric-sql/pglite/contrib/${n}`) as Promise<Record<string, Extensions[string]>>));
  return Object.fromEntries(names.map((n, i) => [n, modules[i]![n]!]));
}
