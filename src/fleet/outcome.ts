import { LoginError, PgkeelError, RetriesExhaustedError } from "../errors.js";

/**
 * Which member failure decides the fleet's exit status: the one that most needs a
 * person. An outcome pgkeel could not determine (5), drift (4), an unsafe refusal
 * (6), a fault in a file or raised running it (1), a refused login or bad settings
 * (2), a lost network after every retry (3), a stop signal.
 */
const severity = [5, 4, 6, 1, 2, 3, 130, 143];

export function mostSerious(exits: readonly number[]): number {
  let worst = 0;
  for (const e of exits) if (e !== 0 && (worst === 0 || rank(e) < rank(worst))) worst = e;
  return worst;
}

const rank = (code: number) => {
  const i = severity.indexOf(code);
  return i < 0 ? severity.length : i;
};

export const exitOf = (e: unknown): number => (e instanceof PgkeelError ? e.exitCode : 1);

/** A failure before the member answered once: a refused login, or a connection that never came after every retry. */
export const isUnreachable = (e: unknown): boolean => e instanceof LoginError || e instanceof RetriesExhaustedError;
