import type { UnitContext } from "../gateway/gateway.js";

/**
 * The server's version, read in one place: what `doctor` reports and what any
 * check that depends on the version (the safety analysis, a feature a major
 * lacks) compares against. pgkeel supports PostgreSQL 12 to 18; the README's
 * "Supported PostgreSQL versions" names what each lacks.
 */
export interface ServerVersion {
  /** `server_version_num`, e.g. 140003 for 14.3. */
  readonly num: number;
  /** `server_version` as the server spells it, e.g. "15.4 (Debian 15.4-1.pgdg120+1)". */
  readonly text: string;
  /** 14 for 14.3. */
  readonly major: number;
  /** 3 for 14.3. */
  readonly minor: number;
  /** Within the majors pgkeel supports and tests (12 to 18). */
  readonly supported: boolean;
}

export const oldestSupportedMajor = 12;
export const newestTestedMajor = 18;

export function serverVersion(num: number, text: string): ServerVersion {
  const major = Math.floor(num / 10000);
  return { num, text, major, minor: num % 10000, supported: major >= oldestSupportedMajor && major <= newestTestedMajor };
}

/** Reads the version on a unit's connection (one round trip). */
export async function readServerVersion(db: Pick<UnitContext, "rows">): Promise<ServerVersion> {
  const [row] = await db.rows<{ num: string; text: string }>(
    "SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text",
  );
  return serverVersion(Number(row!.num), row!.text);
}

/** What to tell a user about this server before running phases on it: nothing on a supported, sound release. */
export function versionWarnings(v: ServerVersion): string[] {
  const out: string[] = [];
  if (v.major < oldestSupportedMajor) {
    out.push(
      `PostgreSQL ${v.text} is older than ${oldestSupportedMajor}, the oldest pgkeel supports: its catalog lacks what pgkeel reads (pg_stat_progress_create_index, for one), so phases may fail. Upgrade the server.`,
    );
  }
  if (v.major > newestTestedMajor) {
    out.push(`PostgreSQL ${v.text} is newer than ${newestTestedMajor}, the newest pgkeel is tested on: it is expected to work, but it is not tested.`);
  }
  if (v.major === 14 && v.minor < 4) {
    // Every index pgkeel builds is built concurrently.
    out.push(
      `PostgreSQL ${v.text}: CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY can silently corrupt indexes before 14.4; upgrade to 14.4 or later before building indexes, and REINDEX the ones built concurrently on this release.`,
    );
  }
  return out;
}
