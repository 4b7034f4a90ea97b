import type { Endpoint } from "../db/driver.js";
import { isPoolerLoginRefusal, loginWording, unknownHostWording, unreachableWording } from "./failure-wording.js";

/**
 * The classification table of SPEC section 4: what the gateway does with a failure.
 * Driven by SQLSTATE and socket error codes first, then by the messages drivers,
 * TLS stacks and poolers are known to produce.
 */
export type FailureKind =
  /** Connection lost or server going away: discard the pool, reconnect, retry (or read back). */
  | "connection"
  /** 25006 on a write: the host answers read-only, as after a failover moved the primary; discard the pool, back off, retry. */
  | "failover"
  /** 55P03: retry after backoff. */
  | "lock-timeout"
  /** 40001 / 40P01: the server rolled the unit back; retry. */
  | "rolled-back"
  /** Pooler or server out of connections: retry after backoff. */
  | "saturated"
  /**
   * Bad password, role or database, a host name that does not resolve, TLS that cannot work,
   * a pooler mode pgkeel cannot work through: no retry, exit 2.
   */
  | "login"
  /** Everything else: no retry. */
  | "fatal";

export interface Classified {
  readonly kind: FailureKind;
  /** Short reason for retry reports: SQLSTATE or error code, and message. */
  readonly reason: string;
  readonly sqlstate: string | undefined;
  /** What else may be wrong when this kept happening until the retries ran out. */
  readonly whenExhausted?: string;
}

const connectionMessages = [
  // The seed's eight.
  "ssl connection has been closed unexpectedly",
  "server closed the connection unexpectedly",
  "connection reset by peer",
  "could not receive data from server",
  "connection not open",
  "connection already closed",
  "network is unreachable",
  "could not connect to server",
  // node-postgres and Node's own wording for the same events.
  "connection terminated",
  "client has encountered a connection error",
  "client was closed and is not queryable",
  "cannot use a pool after calling end",
  "timeout expired",
  "socket hang up",
  "read econnreset",
  "write epipe",
  "ssl alert",
  // node-postgres's pool: no connection could be had within the connect timeout.
  "timeout exceeded when trying to connect",
];
const connectionCodes = new Set([
  "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED", "ECONNABORTED",
  "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN", "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
]);
/**
 * The server ended the session: shut down, or (25P03, 57P05) an idle-in-transaction or
 * idle-session timeout cut it off, e.g. a runner stopped inside its transaction. A lost
 * connection like any other: reconnect, read back what committed.
 */
const connectionStates = new Set(["57P01", "57P02", "57P03", "25P03", "57P05"]);
/** TLS set-up that cannot succeed by retrying: the URL's TLS settings and the server disagree. */
const tlsSettingsCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED", "CERT_SIGNATURE_FAILURE", "ERR_TLS_CERT_ALTNAME_INVALID", "HOSTNAME_MISMATCH",
]);
const tlsSettingsMessages = ["the server does not support ssl connections", "self-signed certificate", "unable to verify the first certificate"];
/**
 * A statement-mode pooler (PgBouncer `pool_mode = statement`) closes a client whose
 * message ends inside a transaction, with this 08P01 (also when the server failed
 * the transaction: its own error is then lost). Retrying the same text cannot help.
 * True for the driver's error and for the LoginError the gateway makes of it.
 */
export function isStatementModeRefusal(err: unknown): boolean {
  const e = (err ?? {}) as { code?: unknown; sqlstate?: unknown; message?: unknown };
  return (e.code ?? e.sqlstate) === "08P01" && typeof e.message === "string" && e.message.toLowerCase().includes("statement pooling mode");
}
const statementModeFix =
  "the URL goes through a pooler in statement mode, where no transaction may span round trips: use a transaction-mode or direct URL (e.g. --via direct)";
const readOnlyExhausted =
  "the server kept answering read-only: no failover ended in time, or the URL names a replica, or the role or database is read-only (default_transaction_read_only); give a primary's URL and a role that may write";
const saturatedMessages = ["no more connections allowed", "emaxconn", "echeckouttimeout", "too many connections"];

export function classify(err: unknown): Classified {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; endpoint?: Endpoint; address?: unknown; port?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = typeof e.message === "string" ? e.message : String(err);
  // EPIPE has the shape of a SQLSTATE too, so socket codes are recognised first.
  const socketCode = code !== undefined && connectionCodes.has(code);
  const sqlstate = !socketCode && code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const lower = message.toLowerCase();
  const reason = `${code ? `${code} ` : ""}${message}`.trim();
  const as = (kind: FailureKind, why = reason): Classified => ({ kind, reason: why, sqlstate });

  if (sqlstate) {
    if (sqlstate === "53300" || sqlstate === "53400") return as("saturated");
    if (saturatedMessages.some((m) => lower.includes(m))) return as("saturated");
    if (isStatementModeRefusal(err)) return { kind: "login", reason: `${reason}: ${statementModeFix}`, sqlstate };
    // A failover: the name now points at a server that is (still, or now) a read-only standby.
    if (sqlstate === "25006") return { kind: "failover", reason, sqlstate, whenExhausted: readOnlyExhausted };
    if (sqlstate === "08P01" && isPoolerLoginRefusal(message)) return as("login", loginWording(sqlstate, message, e.endpoint));
    if (sqlstate.startsWith("08") || connectionStates.has(sqlstate)) return as("connection");
    if (sqlstate === "55P03") return as("lock-timeout");
    if (sqlstate === "40001" || sqlstate === "40P01") return as("rolled-back");
    if (sqlstate === "28P01" || sqlstate === "28000" || sqlstate === "3D000") return as("login", loginWording(sqlstate, message, e.endpoint));
    return as("fatal");
  }
  if (saturatedMessages.some((m) => lower.includes(m))) return as("saturated");
  if (socketCode) return as("connection", code === "ECONNREFUSED" ? unreachableWording(e, e.endpoint) : reason);
  // A host name that does not resolve, or TLS the server cannot satisfy: settings errors, not passing faults.
  if (code === "ENOTFOUND") return as("login", unknownHostWording(message, e.endpoint));
  if (code && tlsSettingsCodes.has(code)) return as("login");
  if (tlsSettingsMessages.some((m) => lower.includes(m))) return as("login");
  if (connectionMessages.some((m) => lower.includes(m))) return as("connection");
  return as("fatal");
}

export function isRetryable(kind: FailureKind): boolean {
  return kind === "connection" || kind === "failover" || kind === "lock-timeout" || kind === "rolled-back" || kind === "saturated";
}
