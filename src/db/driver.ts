/**
 * The small interface every driver adapter implements. Only the gateway uses it:
 * phases never see a Driver or a Session, they hand units to the gateway.
 */

/** One result of one statement, as the protocol returned it. */
export interface StatementResult {
  /** Rows, present whenever the statement returned a row description (not guessed from SQL text). */
  readonly rows: Record<string, unknown>[];
  readonly rowCount: number | null;
  readonly command: string;
}

/** A checked-out connection. `query` with no params may hold several statements. */
export interface Session {
  /**
   * Runs `text`; with several statements (simple protocol) there is one result per statement.
   * When such a message fails, an adapter that can tell puts on the error (as
   * `completedStatements`) how many of its statements completed before the one that failed.
   */
  query(text: string, params?: readonly unknown[]): Promise<StatementResult[]>;
  /** The backend pid announced in the connection's cancel key (BackendKeyData), if any. */
  readonly announcedPid: number | undefined;
  /** Whether the connection is encrypted with TLS. */
  readonly tls: boolean;
  /** Gives the connection back; `broken` makes the adapter destroy it instead of pooling it. */
  release(broken: boolean): void;
}

/**
 * Where a connection was going, without the password. The pg adapter attaches it
 * to connect errors (as `error.endpoint`) so a refused login or an unreachable
 * server can be reported by the names in the URL.
 */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
}

export interface Driver {
  readonly kind: "pg" | "pglite";
  acquire(): Promise<Session>;
  /** Throws away every pooled connection; the next acquire() connects afresh. */
  discard(): Promise<void>;
  close(): Promise<void>;
}

/** Connection tuning shared by adapters that talk to a server over a network. */
export interface ConnectionTuning {
  /** Give up connecting after this long. */
  readonly connectTimeoutMs: number;
  /** TCP keepalive on every socket, first probe after this long idle. */
  readonly keepAliveInitialDelayMs: number;
  /** Replace a connection once it is this old. */
  readonly maxLifetimeSeconds: number;
  /** A pooled connection idle longer than this is checked with a round trip before reuse. */
  readonly checkAfterIdleMs: number;
  /** Most connections held at once. */
  readonly maxConnections: number;
}

export const defaultTuning: ConnectionTuning = {
  connectTimeoutMs: 10_000,
  keepAliveInitialDelayMs: 10_000,
  maxLifetimeSeconds: 600,
  checkAfterIdleMs: 10_000,
  maxConnections: 4,
};
