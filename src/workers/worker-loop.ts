import type { Logger } from "pino";

/**
 * Runs `tick` again and again: right after a `kick()` (a wake-up from the database or from a
 * finished job), or after the delay the last tick asked for. Never two ticks at once; a kick during
 * a tick runs one more right after it. `stop()` waits for the running tick.
 */
export class WorkerLoop {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;

  constructor(
    private readonly name: string,
    private readonly logger: Logger,
    /** Does one round of work; answers how long to wait before the next round if nothing kicks. */
    private readonly tick: () => Promise<number>,
    private readonly errorDelayMs: number,
  ) {}

  start(): void {
    this.#stopped = false;
    this.kick();
  }

  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#round();
  }

  async #round(): Promise<void> {
    let delay = this.errorDelayMs;
    try {
      delay = await this.tick();
    } catch (error) {
      this.logger.error({ worker: this.name, err: (error as Error).message }, "worker round failed; retrying later");
    }
    // Cleared before deciding what comes next, so a kick from here on starts a new round.
    this.#running = undefined;
    if (this.#stopped) return;
    if (this.#again) {
      this.#again = false;
      this.kick();
      return;
    }
    this.#timer = setTimeout(() => this.kick(), Math.max(0, delay));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
