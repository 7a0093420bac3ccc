import type { Clock } from "./ports/clock.ts";

/**
 * At most one run per key per window. A call inside the window is not lost: it is coalesced into a
 * single trailing run at the window's end, so the last word of a genuine PG still gets its read.
 * In-process only: with several PGB processes each allows its own run per window (still bounded),
 * and a trailing run lost in a crash is covered by the reconciler.
 */
export class ReadThrottle {
  readonly #last = new Map<string, number>();
  readonly #trailing = new Set<string>();

  constructor(
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** True: run now (the window starts). False: coalesced; `trailing` runs once when the window ends. */
  take(key: string, trailing: () => void): boolean {
    const now = this.clock.nowMs();
    const last = this.#last.get(key);
    if (last === undefined || now - last >= this.windowMs) {
      this.#last.set(key, now);
      if (this.#last.size > 10_000) this.#forgetExpired(now);
      return true;
    }
    if (!this.#trailing.has(key)) {
      this.#trailing.add(key);
      setTimeout(
        () => {
          this.#trailing.delete(key);
          trailing();
        },
        last + this.windowMs - now,
      ).unref();
    }
    return false;
  }

  #forgetExpired(now: number): void {
    for (const [key, at] of this.#last) if (now - at >= this.windowMs) this.#last.delete(key);
  }
}
