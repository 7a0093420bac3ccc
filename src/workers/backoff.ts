/**
 * Exponential backoff with "equal jitter": the n-th retry waits between half and all of
 * base·2^(n−1), capped. The random half spreads the retries of many notifications (or many PGB
 * processes) that failed together, so a host coming back is not hit by all of them at once.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 40);
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
