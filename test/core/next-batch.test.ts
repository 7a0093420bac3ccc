/**
 * NextBatch (core/next-batch.ts), behind the webhook intake and the recording of delivered
 * notifications: what arrives while a batch is written goes in the next one, the first after a quiet
 * spell goes alone, and nothing added at any moment is left waiting.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fulfilled, NextBatch } from "../../src/core/next-batch.ts";

/** A NextBatch that doubles numbers, remembering each batch it wrote. */
function doubling(maxBatch?: number) {
  const batches: number[][] = [];
  const queue = new NextBatch<number, number>(async (items) => {
    batches.push(items);
    await sleep(5);
    return fulfilled(items.map((n) => n * 2));
  }, maxBatch);
  return { queue, batches };
}

/** Fails instead of hanging when `promise` does not settle within a second. */
async function within<T>(promise: Promise<T>): Promise<T> {
  const timeout = sleep(1000, "timed out" as const, { ref: false });
  const settled = await Promise.race([promise, timeout]);
  if (settled === "timed out") assert.fail("an added item was never written");
  return settled as T;
}

describe("NextBatch", () => {
  it("writes the first item at once, alone, and what arrived meanwhile together", async () => {
    const { queue, batches } = doubling();
    const results = await within(Promise.all([1, 2, 3, 4].map((n) => queue.add(n))));
    assert.deepEqual(results, [2, 4, 6, 8]);
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
  });

  it("takes at most maxBatch items per batch", async () => {
    const { queue, batches } = doubling(2);
    await within(Promise.all([1, 2, 3, 4, 5, 6].map((n) => queue.add(n))));
    assert.deepEqual(batches, [[1], [2, 3], [4, 5], [6]]);
  });

  it("writes an item added the moment the last batch's outcome is handed out", async () => {
    const { queue } = doubling();
    // Added in the first reaction to the outcome: the queue has just been found empty, and the run
    // that found it so has not yet returned.
    for (let round = 1; round <= 3; round++) {
      assert.equal(await within(queue.add(round).then((doubled) => queue.add(doubled))), round * 4);
    }
  });

  it("fails only the items whose outcome failed, and goes on with the next batch", async () => {
    const queue = new NextBatch<number, number>(async (items) =>
      items.map((n): PromiseSettledResult<number> => (n < 0 ? { status: "rejected", reason: new Error(`bad ${n}`) } : { status: "fulfilled", value: n })),
    );
    const outcomes = await within(Promise.allSettled([1, -2, 3].map((n) => queue.add(n))));
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.equal(await within(queue.add(4)), 4);
  });

  it("fails every item of a batch whose write throws, and goes on with the next batch", async () => {
    let calls = 0;
    const queue = new NextBatch<number, number>(async (items) => {
      if (++calls === 2) throw new Error("database gone");
      return fulfilled(items);
    });
    const outcomes = await within(Promise.allSettled([1, 2, 3].map((n) => queue.add(n))));
    assert.deepEqual(
      outcomes.map((o) => (o.status === "rejected" ? (o.reason as Error).message : o.value)),
      [1, "database gone", "database gone"],
    );
    assert.equal(await within(queue.add(4)), 4);
  });
});
