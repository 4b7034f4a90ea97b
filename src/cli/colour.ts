import { styleText } from "node:util";

export type Style = "green" | "yellow" | "red" | "cyan" | "dim" | "bold";
export type Paint = (style: Style, text: string) => string;

/**
 * Colour only for a person at a terminal: never into a pipe or a file, never
 * with NO_COLOR set (https://no-color.org) or TERM=dumb.
 */
export function painter(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Paint {
  const on = (stream as { isTTY?: boolean }).isTTY === true && !env.NO_COLOR && env.TERM !== "dumb";
  return on ? (style, text) => styleText(style, text) : (_style, text) => text;
}

/** The colour of a state in `status`: done is green, waiting work yellow, trouble red. */
export function stateStyle(state: string): Style {
  if (state === "applied" || state === "valid" || state === "done") return "green";
  if (state === "building") return "cyan";
  if (state === "pending" || state === "partial" || state === "missing") return "yellow";
  return "red";
}
