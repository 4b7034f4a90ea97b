import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { hostname } from "node:os";

/**
 * A lock file that says which process holds it: one process at a time on a
 * directory. A lock whose holder is gone (no such process on this host, or the
 * pid now belongs to a process started later, or the host has rebooted since)
 * is taken over at once. A holder on another host cannot be checked and is
 * waited for like a live one.
 *
 * Written by hand: Node has no flock, a native addon would need prebuilt
 * binaries for every user's platform, and proper-lockfile judges staleness by
 * mtime, which is a timeout.
 */
export interface Holder {
  readonly pid: number;
  readonly host: string;
  /** /proc/sys/kernel/random/boot_id where there is one. */
  readonly boot?: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid. */
  readonly start?: string;
  /** Unique per acquisition: a takeover removes exactly the lock it judged dead. */
  readonly nonce: string;
  /** The program and its command, e.g. "pgkeel run". */
  readonly title: string;
  readonly since: string;
}

export interface LockOptions {
  /** Give up after this long, ms. */
  readonly waitMs: number;
  /** Called once, when the lock is found held by a live process. */
  readonly onWait?: (holder: Holder) => void;
  /** How often to look again while waiting, ms (default 100). */
  readonly pollMs?: number;
  /** Stops waiting: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The lock stayed held by a live process for the whole wait. */
export class LockBusy extends Error {
  constructor(
    readonly path: string,
    readonly holder: Holder | undefined,
  ) {
    super(`${path} is held by ${holder ? describeHolder(holder) : "an unreadable lock file"}`);
    this.name = "LockBusy";
  }
}

export function describeHolder(h: Holder): string {
  const here = h.host === hostname() ? "" : ` on host ${h.host}`;
  const self = h.pid === process.pid && h.host === hostname() ? " (this process)" : "";
  return `pid ${h.pid}${here}${self} (${h.title}, since ${h.since})`;
}

/** Takes the lock at `path`, waiting while a live process holds it. Resolves to the release function. */
export async function acquireLock(path: string, opts: LockOptions): Promise<() => void> {
  const me = ownRecord();
  const deadline = Date.now() + opts.waitMs;
  let announced = false;
  for (;;) {
    if (tryCreate(path, me)) return release(path, me);
    const holder = readHolder(path);
    if (holder === null) continue; // released between our two looks
    // Another waiter may be taking the dead holder's lock over: then wait for it like for a live one.
    if (holder && isGone(holder) && removeDead(path, holder, me)) continue;
    if (!announced && holder) opts.onWait?.(holder);
    announced = true;
    if (Date.now() >= deadline) throw new LockBusy(path, holder);
    await pause(Math.min(opts.pollMs ?? 100, Math.max(1, deadline - Date.now())), opts.signal);
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      if (signal?.aborted) reject(signal.reason);
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function release(path: string, me: Holder): () => void {
  const onExit = () => removeIf(path, me.nonce);
  // A process that exits without closing still frees the lock; a killed one is judged gone by the next.
  process.once("exit", onExit);
  return () => {
    process.removeListener("exit", onExit);
    onExit();
  };
}

/** Creates `path` holding `record`, atomically and only if absent: the content is complete once the name exists. */
function tryCreate(path: string, record: Holder): boolean {
  const tmp = `${path}.${record.nonce}.tmp`;
  writeFileSync(tmp, JSON.stringify(record));
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

/** The holder recorded at `path`; null when there is no lock, undefined when it cannot be read. */
function readHolder(path: string): Holder | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Holder;
    return typeof h.pid === "number" && typeof h.nonce === "string" ? h : undefined;
  } catch {
    return undefined;
  }
}

function removeIf(path: string, nonce: string): void {
  if (readHolder(path)?.nonce !== nonce) return;
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/**
 * Removes the lock of a dead holder. Several waiters may judge it dead at once:
 * only the one that creates the takeover marker for that holder removes it, so
 * none can remove a lock someone took meanwhile. A marker whose taker died is
 * itself taken over the same way.
 */
function removeDead(path: string, dead: Holder, me: Holder): boolean {
  const marker = `${path}.takeover-${dead.nonce}`;
  if (!tryCreate(marker, me)) {
    const taker = readHolder(marker);
    // The marker is gone (the taker finished: look again at once), or its taker died too.
    return taker === null || (taker !== undefined && isGone(taker) && removeDead(marker, taker, me));
  }
  try {
    // Nobody else can remove `dead`'s lock while we hold its marker, so this read stays true.
    removeIf(path, dead.nonce);
    return true;
  } finally {
    removeIf(marker, me.nonce);
  }
}

/** Whether the holder is certainly gone. A holder on another host is never judged gone. */
function isGone(h: Holder): boolean {
  if (h.host !== hostname()) return false;
  const boot = bootId();
  if (boot && h.boot && boot !== h.boot) return true;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    // EPERM: the process exists, owned by someone else.
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  const start = startTicks(h.pid);
  return h.start !== undefined && start !== undefined && start !== h.start;
}

function ownRecord(): Holder {
  // The CLI names itself in process.title; a library user's process shows its script.
  const [script, command] = process.argv.slice(1);
  const program = process.title && process.title !== "node" ? process.title : `node ${basename(script ?? "")}`.trim();
  return {
    pid: process.pid,
    host: hostname(),
    boot: bootId(),
    start: startTicks(process.pid),
    nonce: randomBytes(8).toString("hex"),
    title: command && /^[a-z][a-z-]*$/.test(command) ? `${program} ${command}` : program,
    since: new Date().toISOString(),
  };
}

function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
