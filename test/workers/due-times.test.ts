/** The dispatcher's in-process retry times: the earliest is always the smallest not yet dropped. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DueTimes } from "../../src/workers/due-times.ts";

describe("due times of the retries a dispatcher recorded", () => {
  it("answers the earliest time still held, whatever the order they were added and dropped in", () => {
    const times = new DueTimes();
    const added: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) {
        const at = Math.floor(Math.random() * 10_000);
        times.add(at);
        added.push(at);
      }
      const now = Math.floor(Math.random() * 10_000);
      times.dropUntil(now);
      const held = added.filter((at) => at > now).sort((a, b) => a - b);
      added.splice(0, added.length, ...held);
      assert.equal(times.size, held.length);
      assert.equal(times.earliest(), held[0]);
    }
    times.dropUntil(Infinity);
    assert.equal(times.earliest(), undefined);
  });
});
