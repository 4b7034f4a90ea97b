import type { KeelEvent } from "../events.js";
import { PgkeelError } from "../errors.js";
import { redactText } from "../gateway/redact.js";
import { painter, type Paint } from "./colour.js";
import { backfillLine, count, duration, indexLine, timeLeft } from "./progress-line.js";
import { TtyProgress } from "./progress.js";

/** Off a terminal (a CI log), at most one progress line per unit this often. */
const logProgressEveryMs = 5_000;

/**
 * Where the CLI's words go: results on stdout; banners, progress and logs on
 * stderr; with `--json`, events one per line on stdout. Every line passes through
 * the redactor first (SPEC guarantee 9). On a terminal, progress is one updating
 * line per unit and states and errors have colour; in a log, plain lines.
 */
export class Output {
  secrets: string[] = [];
  private readonly lastProgress = new Map<string, number>();
  private readonly progress: TtyProgress | undefined;
  /** Colour for what goes to stdout and to stderr. */
  readonly paint: { out: Paint; err: Paint };

  constructor(
    private readonly mode: { json: boolean; quiet: boolean; eventsToStdout: boolean },
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.paint = { out: painter(out), err: painter(err) };
    const tty = (err as { isTTY?: boolean }).isTTY === true;
    if (tty && !mode.quiet && !(mode.json && mode.eventsToStdout)) this.progress = new TtyProgress(err);
  }

  result(text: string): void {
    this.out.write(`${this.clean(text)}\n`);
  }

  log(text: string): void {
    if (!this.mode.quiet) this.line(text);
  }

  event(e: KeelEvent): void {
    if (this.mode.json && this.mode.eventsToStdout) {
      this.out.write(`${this.clean(JSON.stringify({ time: new Date().toISOString(), ...e }))}\n`);
      return;
    }
    if (e.type === "backfill-progress" || e.type === "index-progress") return this.showProgress(e);
    if (e.type === "backfill-start" || e.type === "index-start") this.lastProgress.set(e.name, this.now());
    if (e.type === "backfill-done") this.progress?.remove(`backfill:${e.name}`);
    if (e.type === "index-done") this.progress?.remove(`index:${e.name}`);
    const line = describe(e, this.paint.err);
    if (line === undefined) return;
    // Retries, warnings and throttling are shown even with --quiet: they explain slowness.
    if (e.type === "retry" || e.type === "warning" || e.type === "backfill-throttle") this.line(line);
    else this.log(line);
  }

  /** On a terminal, the unit's one line, redrawn; in a log, a line now and then. */
  private showProgress(e: Extract<KeelEvent, { type: "backfill-progress" | "index-progress" }>): void {
    if (this.mode.quiet) return;
    if (this.progress) {
      const render = e.type === "backfill-progress" ? (w: number) => this.clean(backfillLine(e, w)) : (w: number) => this.clean(indexLine(e, w));
      return this.progress.show(`${e.type === "backfill-progress" ? "backfill" : "index"}:${e.name}`, render);
    }
    const now = this.now();
    if (now - (this.lastProgress.get(e.name) ?? 0) < logProgressEveryMs) return;
    this.lastProgress.set(e.name, now);
    this.line(describeProgress(e));
  }

  /** On a terminal, a live line under `key` (a fleet's counts), redrawn; elsewhere nothing. */
  live(key: string, render: (width: number) => string): void {
    if (!this.mode.quiet) this.progress?.show(key, (w) => this.clean(render(w)));
  }

  /** Whether live lines are drawn (a terminal, not --quiet). */
  get isLive(): boolean {
    return this.progress !== undefined && !this.mode.quiet;
  }

  /** Stops the progress lines; call before the process ends. */
  close(): void {
    this.progress?.stop();
  }

  failure(e: unknown): number {
    this.progress?.stop();
    const code = e instanceof PgkeelError ? e.exitCode : 1;
    const message = e instanceof Error ? e.message : String(e);
    if (this.mode.json && this.mode.eventsToStdout) {
      this.out.write(`${this.clean(JSON.stringify({ type: "error", exitCode: code, error: e instanceof Error ? e.name : "Error", message, ...(e instanceof PgkeelError && e.applied && { applied: e.applied }) }))}\n`);
    }
    this.err.write(`${this.paint.err("red", `pgkeel: ${this.clean(message)}`)}\n`);
    if (!(e instanceof PgkeelError) && e instanceof Error && process.env.PGKEEL_DEBUG) this.err.write(`${this.clean(e.stack ?? "")}\n`);
    return code;
  }

  /** A line on stderr, above any progress lines. */
  private line(text: string): void {
    if (this.progress) this.progress.log(this.clean(text));
    else this.err.write(`${this.clean(text)}\n`);
  }

  private clean(text: string): string {
    return redactText(text, this.secrets);
  }
}

/** "1 migration", "2 migrations". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

function describeProgress(e: Extract<KeelEvent, { type: "backfill-progress" | "index-progress" }>): string {
  if (e.type === "index-progress") {
    const blocks = e.blocksTotal ? `, ${Math.round((100 * e.blocksDone) / e.blocksTotal)}% of blocks` : "";
    return `    ${e.name}: ${e.phase}${blocks}, ${duration(e.elapsedMs / 1000)}`;
  }
  const left = timeLeft(e.etaSeconds);
  return `    ${e.name}: ${count(e.rowsDone)} of about ${count(Math.max(e.estimatedRows, e.rowsDone))} rows, ${count(e.rowsPerSecond)} rows/s${left ? `, ${left}` : ""}, batch ${count(e.batchSize)}`;
}

function describe(e: KeelEvent, paint: Paint): string | undefined {
  switch (e.type) {
    case "target":
      return e.embedded ? paint("yellow", `pgkeel: no database URL given: using the ${e.display}`) : `pgkeel: target ${e.display}`;
    case "phase":
      return `${e.phase}: ${e.pending === 0 ? "nothing to do" : `${e.pending} pending`}`;
    case "migration-start":
      return undefined;
    case "migration-applied":
      return e.by === "this-run" ? `  ${paint("green", "applied")} ${e.name} (${e.ms} ms)` : `  ${e.name} was applied by another runner`;
    case "statement-applied":
      return `    ${e.migration}: statement ${e.index + 1} done (${e.ms} ms)`;
    case "wait-attempt":
      return `  wait: attempt ${e.attempt} failed (${e.cause}); next attempt in ${e.nextInMs} ms`;
    case "held":
      return `  ${e.name} waits for backfill ${e.backfill} (applied once it is done)`;
    case "waiting":
      return `  ${paint("cyan", "waiting")}: ${e.what} is being worked on by ${e.holder}`;
    case "retry":
      return `  ${paint("yellow", "retry")} ${e.unit}: attempt ${e.attempt} failed (${e.kind}: ${e.reason}); next attempt in ${e.waitMs} ms`;
    case "resolved":
      return `  ${e.unit}: connection lost mid-unit; read back from the database: ${e.outcome}`;
    case "warning":
      return `  ${paint("yellow", "warning")}: ${e.message}`;
    case "index-start":
      return `  building index ${e.name} on ${e.table} (${e.file}), concurrently`;
    case "index-progress":
    case "backfill-progress":
      return describeProgress(e);
    case "backfill-start":
      return `  backfilling ${e.name} on ${e.table} (${e.estimatedRows > 0 ? `about ${plural(e.estimatedRows, "row")}` : "size unknown"}${e.rowsDone ? `, ${count(e.rowsDone)} done before` : ""}${e.workers > 1 ? `, ${e.workers} workers` : ""})`;
    case "backfill-split":
      return `  ${paint("yellow", "split")} ${e.name}: the batch ${e.from}..${e.to} (${plural(e.rows, "key")}) kept failing (${e.reason}); trying it in pieces of ${plural(e.size, "key")}`;
    case "backfill-paused":
      return e.paused ? `  ${paint("yellow", "paused")} ${e.name}: workers hold before their next batch (pgkeel backfill --resume ${e.name})` : `  resumed ${e.name}`;
    case "backfill-throttle":
      return e.state === "clear"
        ? `  ${paint("green", "resumed")} ${e.name}: ${e.reason}`
        : `  ${paint("yellow", e.state === "paused" ? "paused" : "slowed")} ${e.name}: ${e.reason}`;
    case "backfill-done":
      return e.by === "this-run" ? `  ${paint("green", "finished")} ${e.name}: ${plural(e.rows, "row")} (${e.ms} ms)` : `  ${e.name} was finished by another runner`;
    case "index-done":
      return e.by === "this-run" ? `  ${paint("green", "built")} ${e.name} (${e.ms} ms)` : e.by === "another-runner" ? `  ${e.name} was built by another runner` : undefined;
  }
}
