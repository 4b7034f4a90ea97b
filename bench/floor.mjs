// The one-round-trip floor: each migration sent as one `BEGIN; ...; COMMIT` query, no tracking.
// Input: the URL, then a JSON file holding an array of migrations (arrays of statements).
import { readFileSync } from "node:fs";
import pg from "pg";

const [url, file] = process.argv.slice(2);
const migrations = JSON.parse(readFileSync(file, "utf8"));
const client = new pg.Client({ connectionString: url });
await client.connect();
for (const stmts of migrations) await client.query(`BEGIN; ${stmts.join("; ")}; COMMIT`);
await client.end();
