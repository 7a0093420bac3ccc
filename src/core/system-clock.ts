/**
 * The system clock: the only file in src/ that reads the machine's time (the lint refuses
 * `Date.now()` and `new Date()` anywhere else). Everything else gets a Clock (core/ports/clock.ts).
 */
import type { Clock } from "./ports/clock.ts";

export const systemClock: Clock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
};
