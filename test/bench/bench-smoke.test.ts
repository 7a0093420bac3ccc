/**
 * A short run of the benchmark (a second or two per scenario) so it cannot rot: it must finish, and
 * its own correctness checks (payments in the expected state, balances exact) must pass. No figure is
 * asserted: performance is judged by `npm run bench`, never by a test.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";

// The time-outs only guard against a hang: on a loaded machine the smoke run has taken 270 s.
describe("benchmark smoke run", () => {
  it("runs every scenario briefly and its correctness checks pass", { timeout: 610_000 }, () => {
    const env = {
      ...process.env,
      ...(process.env.TEST_DATABASE_URL ? { BENCH_DATABASE_URL: process.env.TEST_DATABASE_URL } : { BENCH_DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" }),
    };
    const run = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke"], { env, encoding: "utf8", timeout: 600_000 });
    const output = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 0, output.slice(-3000));
    assert.match(output, /correctness checks: all passed/);
    assert.match(output, /\[5\] PayStart on the embedded database/);
    assert.match(output, /\[6\] Start-up/);
    if (process.env.TEST_DATABASE_URL) assert.match(output, /\[4\] Cancel storm[\s\S]*agree to the unit: yes/);
  });
});
