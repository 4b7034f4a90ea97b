import type { KeelEvent } from "../events.js";

/**
 * One line of progress that fits `width` columns. The numbers come first and the
 * bar takes what is left: it shrinks first, then goes; then the least useful
 * numbers go; a name too long for the line loses its start (a migration's
 * timestamp) before anything else.
 */
type BackfillProgress = Extract<KeelEvent, { type: "backfill-progress" }>;
type IndexProgress = Extract<KeelEvent, { type: "index-progress" }>;

export const count = (n: number) => Math.round(n).toLocaleString("en-US");

/** "12 s", "3 min 5 s", "25 min", "2 h 4 min": no more precision than a person can use. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const m = Math.round((s % 3600) / 60);
  return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ""}`;
}

/** Time left, only while there is some: a finished unit never says "0 s left". */
export function timeLeft(etaSeconds: number | null): string | undefined {
  return etaSeconds === null || etaSeconds < 1 ? undefined : `about ${duration(etaSeconds)} left`;
}

const minBar = 10;

/** `[█████░░░░░]` of `size` columns in all. */
export function bar(fraction: number, size: number): string {
  const inner = Math.max(0, size - 2);
  const done = Math.round(Math.min(1, Math.max(0, fraction)) * inner);
  return `[${"\u2588".repeat(done)}${"\u2591".repeat(inner - done)}]`;
}

/**
 * `name` and `fields` (most important first) joined by two spaces, then the bar
 * in the columns left over. When the line is too long: the bar shrinks and goes
 * first, then the fields after the first `keep`, then the name is shortened (its
 * timestamp first, then from the start), then the remaining fields but the first.
 */
export function fitLine(name: string, fields: readonly string[], fraction: number | undefined, width: number, keep = fields.length): string {
  const indent = "  ";
  const kept = [...fields];
  let shown = name;
  const text = () => [indent + shown, ...kept].join("  ");
  const fits = () => text().length <= width;
  while (!fits() && kept.length > Math.max(1, keep)) kept.pop();
  if (!fits()) shown = name.replace(/^\d{8,}_/, "");
  const shorten = (min: number) => {
    const over = text().length - width;
    if (over > 0 && shown.length > min) shown = `\u2026${shown.slice(Math.min(shown.length, over + 1, shown.length - min + 1))}`;
  };
  shorten(16);
  while (!fits() && kept.length > 1) kept.pop();
  shorten(4);
  let line = text();
  const room = width - line.length - 2;
  // Whatever had to give way, the bar gave way first.
  const whole = kept.length === fields.length && shown === name;
  if (fraction !== undefined && whole && room >= minBar) line += `  ${bar(fraction, Math.min(room, 40))}`;
  return line.slice(0, Math.max(0, width));
}

export function backfillLine(e: BackfillProgress, width: number): string {
  const total = Math.max(e.estimatedRows, e.rowsDone);
  const fields = [
    `${count(e.rowsDone)}/${count(total)} rows`,
    `${count(e.rowsPerSecond)} rows/s`,
    timeLeft(e.etaSeconds),
    `batch ${count(e.batchSize)}`,
  ].filter((f): f is string => f !== undefined);
  // The line above ("backfilling NAME") gives the full name: here the timestamp can go.
  // Counts, rate and time left outrank the name's full length; the batch size does not.
  return fitLine(e.name.replace(/^\d{8,}_/, ""), fields, total > 0 ? e.rowsDone / total : undefined, width, 3);
}

export function indexLine(e: IndexProgress, width: number): string {
  const percent = e.blocksTotal ? `${Math.round((100 * e.blocksDone) / e.blocksTotal)}% of blocks` : undefined;
  const fields = [percent, e.phase, duration(e.elapsedMs / 1000)].filter((f): f is string => f !== undefined);
  return fitLine(e.name, fields, e.blocksTotal ? e.blocksDone / e.blocksTotal : undefined, width, 1);
}
