/**
 * Work that arrives while a batch is being written waits and goes together in the next batch: under
 * load one round trip serves many, and after a quiet spell the first item goes at once, alone. Nothing
 * waits for a batch to fill.
 */
export class NextBatch<Item, Result> {
  #waiting: Array<{ item: Item; resolve(result: Result): void; reject(error: unknown): void }> = [];
  #running = false;

  /**
   * `write`: one batch's outcome per item, in order; when it throws, every item of the batch fails
   * with its error. `maxBatch`: the most items one batch takes.
   */
  constructor(
    private readonly write: (items: Item[]) => Promise<Array<PromiseSettledResult<Result>>>,
    private readonly maxBatch = Number.POSITIVE_INFINITY,
  ) {}

  /** Resolves with the item's outcome once the batch that took it is written. */
  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, this.maxBatch);
        try {
          const outcomes = await this.write(batch.map((w) => w.item));
          batch.forEach((w, i) => {
            const outcome = outcomes[i]!;
            if (outcome.status === "fulfilled") w.resolve(outcome.value);
            else w.reject(outcome.reason);
          });
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      // Cleared in the same step as the last look at the queue, not in a callback after it: an item
      // added in between would otherwise find a run under way that has already ended, and wait for ever.
      this.#running = false;
    }
  }
}

/** Each result as an outcome that succeeded (a batch written whole). */
export function fulfilled<Result>(results: readonly Result[]): Array<PromiseSettledResult<Result>> {
  return results.map((value) => ({ status: "fulfilled", value }));
}
