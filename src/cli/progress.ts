import { createRequire } from "node:module";
import type cliProgress from "cli-progress";

// Loaded with the first bar: a run that draws none (a deploy with nothing to do) does not pay for it.
let lib: typeof cliProgress | undefined;
const bars = () => (lib ??= createRequire(import.meta.url)("cli-progress") as typeof cliProgress);

/** Draws a line for the width it gets; called on every redraw, so a resized terminal is followed. */
export type LineRenderer = (width: number) => string;

/**
 * One updating line per running unit (a backfill, an index build) at the bottom
 * of a terminal, on cli-progress's MultiBar: it redraws at most 10 times a
 * second, keeps the cursor where it was, and prints log lines above the bars.
 * The line itself is ours (progress-line.ts), so it fits the terminal's width.
 */
export class TtyProgress {
  private multi: cliProgress.MultiBar | undefined;
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  constructor(private readonly stream: NodeJS.WritableStream) {}

  get active(): boolean {
    return this.bars.size > 0;
  }

  /** Shows or updates the line of `key`. */
  show(key: string, render: LineRenderer): void {
    this.multi ??= new (bars().MultiBar)({
      stream: this.stream,
      // The text fits already; with wrapping left on, log lines above the bars wrap instead of being cut.
      linewrap: true,
      clearOnComplete: true,
      // One column short of the edge: a full line would leave the cursor in the terminal's pending-wrap state.
      format: (_options, params, payload: { render: LineRenderer }) => payload.render(Math.max(1, params.maxWidth - 1)),
    });
    const existing = this.bars.get(key);
    if (existing) existing.update(0, { render });
    else this.bars.set(key, this.multi.create(1, 0, { render }));
  }

  /** A line printed above the bars (or straight out when there are none). */
  log(line: string): void {
    if (this.multi && this.active) this.multi.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  /** Takes the line of `key` away; the last one gone leaves the cursor where the bars began. */
  remove(key: string): void {
    const b = this.bars.get(key);
    if (!b || !this.multi) return;
    this.bars.delete(key);
    if (this.bars.size) this.multi.remove(b);
    else this.stop();
  }

  /** Flushes pending log lines and clears every bar. */
  stop(): void {
    if (!this.multi) return;
    this.multi.update();
    this.multi.stop();
    this.multi = undefined;
    this.bars.clear();
  }
}
