/**
 * Every failure pgkeel reports is one of these; `exitCode` is the CLI's exit status
 * (SPEC section 6): 1 a fault in a user's file or raised running it, 2 usage,
 * configuration or login, 3 retries exhausted, 4 drift, 5 outcome unknown, 6 unsafe,
 * 7 pending work (only `status --check` / `plan --check`), 130 / 143 stopped by SIGINT / SIGTERM.
 */
export abstract class PgkeelError extends Error {
  abstract readonly exitCode: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 130 | 143;
  /** Migrations this run applied before the failure (set by `migrate`; they stay applied). */
  applied?: readonly string[];
}

/** Where in a user's file a fault is. Line and column are 1-based. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

export function formatLocation(loc: SourceLocation): string {
  if (loc.line === undefined) return loc.file;
  return `${loc.file}:${loc.line}${loc.column === undefined ? "" : `:${loc.column}`}`;
}

/** A fault in a user's file found before anything ran (parse error, bad directive, bad header). */
export class InputError extends PgkeelError {
  readonly exitCode = 1 as const;
  constructor(
    readonly location: SourceLocation,
    readonly problem: string,
  ) {
    super(`${formatLocation(location)}: ${problem}`);
    this.name = "InputError";
  }
}

/** Usage, configuration or connection-settings error. */
export class UsageError extends PgkeelError {
  readonly exitCode = 2 as const;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The server refused the login (bad password or role, no such database). Never retried. */
export class LoginError extends PgkeelError {
  readonly exitCode = 2 as const;
  constructor(
    message: string,
    readonly sqlstate: string | undefined,
  ) {
    super(message);
    this.name = "LoginError";
  }
}

/** The database raised an error running a statement; not retried. */
export class DatabaseError extends PgkeelError {
  readonly exitCode = 1 as const;
  constructor(
    readonly sqlstate: string | undefined,
    readonly serverMessage: string,
    readonly details: {
      /** 1-based character position in the text sent, as the server reported it. */
      readonly position?: number;
      readonly detail?: string;
      readonly hint?: string;
      readonly unit?: string;
      /** How many statements of the message completed before the one that failed, where the driver can tell. */
      readonly completed?: number;
      readonly location?: SourceLocation;
    } = {},
  ) {
    super(DatabaseError.describe(sqlstate, serverMessage, details));
    this.name = "DatabaseError";
  }

  /** The same error, placed in a user's file. */
  at(location: SourceLocation): DatabaseError {
    return new DatabaseError(this.sqlstate, this.serverMessage, { ...this.details, location });
  }

  private static describe(sqlstate: string | undefined, msg: string, d: DatabaseError["details"]): string {
    const where = d.location ? `${formatLocation(d.location)}: ` : d.unit ? `${d.unit}: ` : "";
    const extra = [d.detail && `DETAIL: ${d.detail}`, d.hint && `HINT: ${d.hint}`].filter(Boolean).join(" ");
    return `${where}${msg}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ""}${extra ? ` ${extra}` : ""}`;
  }
}

/** A transient failure kept happening until the retry budget ran out. */
export class RetriesExhaustedError extends PgkeelError {
  readonly exitCode = 3 as const;
  constructor(
    readonly unit: string,
    readonly attempts: number,
    readonly lastCause: string,
    /** From the first attempt to giving up. */
    readonly elapsedMs?: number,
    /** What a user changes to keep trying longer. */
    howToWaitLonger = "raise --max-retries (attempts per unit, default 10) or --retry-cap (longest wait between attempts in ms, default 8000), or maxRetries / retryCapMs in the config",
  ) {
    const over = elapsedMs === undefined ? "" : ` over ${formatSeconds(elapsedMs)}`;
    super(`${unit}: gave up after ${attempts} attempts${over}; last cause: ${lastCause}. To keep trying longer, ${howToWaitLonger}`);
    this.name = "RetriesExhaustedError";
  }
}

/** "0.4 s", "48 s", "3 min 5 s". */
export function formatSeconds(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Applied migrations were changed or are missing, or a new one sorts before the last applied. */
export class DriftError extends PgkeelError {
  readonly exitCode = 4 as const;
  constructor(message: string) {
    super(message);
    this.name = "DriftError";
  }
}

/** A statement's outcome could not be determined and pgkeel will not guess. */
export class UnknownOutcomeError extends PgkeelError {
  readonly exitCode = 5 as const;
  constructor(message: string) {
    super(message);
    this.name = "UnknownOutcomeError";
  }
}

/**
 * The run was asked to stop (SIGINT / SIGTERM, or the library's `signal`): no new
 * unit was started, the one in flight finished, claims were released.
 */
export class StoppedError extends PgkeelError {
  readonly exitCode: 130 | 143;
  constructor(
    readonly signal: string,
    /** Per phase: what this run finished, and what it left for the next run. */
    readonly progress: readonly { readonly phase: string; readonly done: readonly string[]; readonly left: readonly string[] }[] = [],
  ) {
    super(StoppedError.describe(signal, progress));
    this.name = "StoppedError";
    this.exitCode = signal === "SIGINT" ? 130 : 143;
  }

  /** The same stop, with one more phase's progress. */
  with(phase: string, done: readonly string[], left: readonly string[]): StoppedError {
    return new StoppedError(this.signal, [...this.progress, { phase, done, left }]);
  }

  private static describe(signal: string, progress: StoppedError["progress"]): string {
    const parts = progress.map(
      (p) => `${p.phase}: done ${p.done.length ? p.done.join(", ") : "nothing"}; left ${p.left.length ? p.left.join(", ") : "nothing"}`,
    );
    return `stopped by ${signal} after the unit in flight; claims released${parts.length ? `. ${parts.join(". ")}` : ""}. Another runner, or the next run, continues at once.`;
  }
}

/** `status --check` / `plan --check` found work that `run` would do. Not a failure of pgkeel. */
export class PendingError extends PgkeelError {
  readonly exitCode = 7 as const;
  constructor(message: string) {
    super(message);
    this.name = "PendingError";
  }
}

/** Another process kept the embedded database's directory for longer than the configured wait. */
export class EmbeddedBusyError extends PgkeelError {
  readonly exitCode = 3 as const;
  constructor(message: string) {
    super(message);
    this.name = "EmbeddedBusyError";
  }
}

/**
 * Pending migrations hold statements judged unsafe on tables this large (SPEC
 * guarantee 10). The message names each file, line, rule, lock, table size and
 * the safe alternative; `findings` carries them for the library's callers.
 */
export class UnsafeError extends PgkeelError {
  readonly exitCode = 6 as const;
  constructor(
    message: string,
    readonly findings: readonly unknown[],
  ) {
    super(message);
    this.name = "UnsafeError";
  }
}

/**
 * Another runner took over this runner's claim (it stalled longer than the claim's
 * lifetime, say, stopped or cut off). Nothing more was sent for that work; the
 * other runner carries it on. Exit 3 like other transient failures: a rerun is safe.
 */
export class ClaimLostError extends PgkeelError {
  readonly exitCode = 3 as const;
  constructor(
    readonly key: string,
    readonly holder: string | undefined,
  ) {
    super(
      `lost the claim on ${key}: another runner took over${holder ? ` (${holder})` : ""} after this one went unheard for longer than the claim's lifetime (claimTtlSeconds). This runner sent nothing more for it; the other runner carries it on. Run again to check.`,
    );
    this.name = "ClaimLostError";
  }
}
