import cliProgress from "cli-progress";
import type { KeelEvent } from "../events.js";
import { PgkeelError } from "../errors.js";
import { redactText } from "../gateway/redact.js";

/**
 * Where the CLI's words go: results on stdout; banners, progress and logs on
 * stderr; with `--json`, events one per line on stdout. Every line passes through
 * the redactor first (SPEC guarantee 9).
 */
export class Output {
  secrets: string[] = [];
  private readonly lastProgress = new Map<string, number>();
  private bar: cliProgress.SingleBar | undefined;

  constructor(
    private readonly mode: { json: boolean; quiet: boolean; eventsToStdout: boolean },
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {}

  result(text: string): void {
    this.out.write(`${this.clean(text)}\n`);
  }

  log(text: string): void {
    if (!this.mode.quiet) this.err.write(`${this.clean(text)}\n`);
  }

  event(e: KeelEvent): void {
    if (this.mode.json && this.mode.eventsToStdout) {
      this.out.write(`${this.clean(JSON.stringify({ time: new Date().toISOString(), ...e }))}\n`);
      return;
    }
    const tty = (this.err as { isTTY?: boolean }).isTTY === true && !this.mode.quiet;
    if (e.type === "backfill-progress" && tty) return this.drawBar(e);
    if (e.type === "backfill-done") this.stopBar();
    // Progress: every update on a terminal, every 10 s in a log.
    if ((e.type === "index-progress" || e.type === "backfill-progress") && !tty) {
      const now = performance.now();
      if (now - (this.lastProgress.get(e.name) ?? 0) < 10_000) return;
      this.lastProgress.set(e.name, now);
    }
    const line = describe(e);
    if (line === undefined) return;
    // Retries and warnings are shown even with --quiet: they explain slowness.
    if (e.type === "retry" || e.type === "warning") this.err.write(`${this.clean(line)}\n`);
    else this.log(line);
  }

  /** A bar per backfill on a terminal: rows done of the estimate, rows per second, time left. */
  private drawBar(e: Extract<KeelEvent, { type: "backfill-progress" }>): void {
    const total = Math.max(e.estimatedRows, e.rowsDone, 1);
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.err,
          format: `  ${e.name} [{bar}] {value}/{total} rows | {rate} rows/s | {left} left | batch {batch}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, e.rowsDone, { rate: 0, left: "?", batch: e.batchSize });
    }
    this.bar.setTotal(total);
    this.bar.update(e.rowsDone, { rate: e.rowsPerSecond, left: e.etaSeconds === null ? "?" : `${e.etaSeconds} s`, batch: e.batchSize });
  }

  private stopBar(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  failure(e: unknown): number {
    this.stopBar();
    const code = e instanceof PgkeelError ? e.exitCode : 1;
    const message = e instanceof Error ? e.message : String(e);
    if (this.mode.json && this.mode.eventsToStdout) {
      this.out.write(`${this.clean(JSON.stringify({ type: "error", exitCode: code, error: e instanceof Error ? e.name : "Error", message }))}\n`);
    }
    this.err.write(`pgkeel: ${this.clean(message)}\n`);
    if (!(e instanceof PgkeelError) && e instanceof Error && process.env.PGKEEL_DEBUG) this.err.write(`${this.clean(e.stack ?? "")}\n`);
    return code;
  }

  private clean(text: string): string {
    return redactText(text, this.secrets);
  }
}

function describe(e: KeelEvent): string | undefined {
  switch (e.type) {
    case "target":
      return e.embedded ? `pgkeel: no database URL given: using the ${e.display}` : `pgkeel: target ${e.display}`;
    case "phase":
      return `${e.phase}: ${e.pending === 0 ? "nothing to do" : `${e.pending} pending`}`;
    case "migration-start":
      return undefined;
    case "migration-applied":
      return e.by === "this-run" ? `  applied ${e.name} (${e.ms} ms)` : `  ${e.name} was applied by another runner`;
    case "statement-applied":
      return `    ${e.migration}: statement ${e.index + 1} done (${e.ms} ms)`;
    case "wait-attempt":
      return `  wait: attempt ${e.attempt} failed (${e.cause}); next attempt in ${e.nextInMs} ms`;
    case "held":
      return `  ${e.name} waits for backfill ${e.backfill} (applied once it is done)`;
    case "waiting":
      return `  waiting: ${e.what} is being worked on by ${e.holder}`;
    case "retry":
      return `  retry ${e.unit}: attempt ${e.attempt} failed (${e.kind}: ${e.reason}); next attempt in ${e.waitMs} ms`;
    case "resolved":
      return `  ${e.unit}: connection lost mid-unit; read back from the database: ${e.outcome}`;
    case "warning":
      return `  warning: ${e.message}`;
    case "index-start":
      return `  building index ${e.name} on ${e.table} (${e.file}), concurrently`;
    case "index-progress":
      return `    ${e.name}: ${e.phase}${e.blocksTotal ? `, ${Math.round((100 * e.blocksDone) / e.blocksTotal)}% of blocks` : ""}, ${(e.elapsedMs / 1000).toFixed(0)} s`;
    case "backfill-start":
      return `  backfilling ${e.name} on ${e.table} (about ${e.estimatedRows} rows${e.rowsDone ? `, ${e.rowsDone} done before` : ""})`;
    case "backfill-progress":
      return `    ${e.name}: ${e.rowsDone} rows, ${e.rowsPerSecond} rows/s${e.etaSeconds === null ? "" : `, about ${e.etaSeconds} s left`}, batch ${e.batchSize}`;
    case "backfill-done":
      return e.by === "this-run" ? `  finished ${e.name}: ${e.rows} rows (${e.ms} ms)` : `  ${e.name} was finished by another runner`;
    case "index-done":
      return e.by === "this-run" ? `  built ${e.name} (${e.ms} ms)` : e.by === "another-runner" ? `  ${e.name} was built by another runner` : undefined;
  }
}
