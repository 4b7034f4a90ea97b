/** Retry budget and pacing (SPEC section 4). */
export interface RetryPolicy {
  /** Attempts per unit, the first included. */
  readonly maxAttempts: number;
  /** Longest single wait, in ms. */
  readonly capMs: number;
  /** Upper bound of the first wait, in ms (the wait is jittered below it). */
  readonly firstMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 10, capMs: 8_000, firstMs: 800 };

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random,
 * so many runners that failed together do not retry together.
 * `retry` is 1 for the first retry.
 */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const step = Math.min(policy.capMs, policy.firstMs * 2 ** (retry - 1));
  return Math.round(step / 2 + random() * (step / 2));
}
