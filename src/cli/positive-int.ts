import { UsageError } from "../errors.js";

/** A commander parser for a flag that takes a whole number of at least 1. */
export const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} needs a whole number of at least 1, got "${v}"`);
  return n;
};
