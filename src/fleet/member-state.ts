import { DatabaseError } from "../errors.js";
import type { Session } from "../session.js";
import { quoteIdent, quoteLiteral } from "../state/quote.js";
import { xactLock } from "../state/schema.js";

/**
 * The fleet's bookkeeping lives in each member's own pgkeel state, beside the
 * claims and tracking rows it is about: a row per (command, project digest) that
 * a fleet runner finished there, and a claim per member while a runner works on
 * it. Nothing is kept in a control database, so a fleet from a URL list needs none.
 */
const table = (s: Session) => `${quoteIdent(s.names.schema)}.fleet_runs`;

/** Has a fleet runner finished `key` on this member? One round trip; a member without pgkeel state has not. */
export async function isDone(s: Session, key: string): Promise<boolean> {
  const rows = await orNoState(s.gw.query("check the fleet's record", `SELECT 1 FROM ${table(s)} WHERE key = $1 AND state = 'done'`, [key]), []);
  return rows.length > 0;
}

/** `read`, or `none` when the member has no pgkeel state yet (no schema 3F000, no table 42P01); any other failure is the member's. */
async function orNoState<T>(read: Promise<T>, none: T): Promise<T> {
  try {
    return await read;
  } catch (e) {
    if (e instanceof DatabaseError && (e.sqlstate === "42P01" || e.sqlstate === "3F000")) return none;
    throw e;
  }
}

/** What a fleet run last did on a member: done, or failed with its exit status and error (already redacted). */
export interface MemberRecord {
  readonly state: "done" | "failed";
  readonly exit: number;
  readonly error?: string;
}

/** Records how `key` ended on this member (one row per key, the latest wins). */
export async function record(s: Session, key: string, runner: string, r: MemberRecord): Promise<void> {
  await s.ready();
  await s.gw.query(
    "record the member's outcome",
    [
      xactLock(s.names.schema, "fleet"),
      `CREATE TABLE IF NOT EXISTS ${table(s)} (key text PRIMARY KEY, state text NOT NULL, exit integer NOT NULL, error text, runner text NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
      `INSERT INTO ${table(s)} AS f (key, state, exit, error, runner) VALUES (${quoteLiteral(key)}, ${quoteLiteral(r.state)}, ${r.exit}, ${r.error === undefined ? "NULL" : quoteLiteral(r.error)}, ${quoteLiteral(runner)})
        ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, exit = EXCLUDED.exit, error = EXCLUDED.error, runner = EXCLUDED.runner, at = now()
        WHERE f.state <> 'done'`,
    ].join(";\n"),
  );
}

/** The latest record of any of `keys` on this member (by when it was written), if any; reads only. */
export async function lastRecord(s: Session, keys: readonly string[]): Promise<MemberRecord | undefined> {
  const [row] = await orNoState(
    s.gw.query<{ state: "done" | "failed"; exit: number; error: string | null }>("read the fleet's record", `SELECT state, exit, error FROM ${table(s)} WHERE key = ANY($1) ORDER BY at DESC LIMIT 1`, [keys]),
    [],
  );
  return row && { state: row.state, exit: row.exit, ...(row.error !== null && { error: row.error }) };
}

/** A fleet runner holding this member's claim for any of `keys`, if any; reads only. */
export async function claimHolder(s: Session, keys: readonly string[]): Promise<string | undefined> {
  for (const key of keys) {
    const holder = await orNoState(s.claims.holder(`fleet:${key}`), undefined);
    if (holder) return holder;
  }
  return undefined;
}

/** A held member claim: renewed in the background until released. */
export interface MemberClaim {
  release(): Promise<void>;
}

/**
 * Takes this member's fleet claim for `key`, or returns undefined while another
 * fleet runner holds it. A runner that dies stops renewing; its claim lapses after
 * the claim lifetime (claimTtlSeconds) and another runner takes the member over.
 */
export async function claimMember(s: Session, key: string): Promise<MemberClaim | undefined> {
  await s.ready();
  const claimKey = `fleet:${key}`;
  const generation = await s.claims.tryClaim(claimKey);
  if (generation === undefined) return undefined;
  const heartbeat = setInterval(() => void s.claims.renew(claimKey, generation).catch(() => {}), (s.claims.ttlSeconds * 1000) / 3);
  return {
    async release() {
      clearInterval(heartbeat);
      await s.claims.release(claimKey, generation).catch(() => {});
    },
  };
}
