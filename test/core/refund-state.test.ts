import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  canRefundTransition,
  IllegalRefundTransition,
  OPEN_REFUND_STATUSES,
  REFUND_STATUSES,
  refundGuardOf,
  refundSourcesOf,
} from "../../src/core/refund-state.ts";

describe("refund state machine", () => {
  it("never leaves FAILED: a released reservation is not taken back", () => {
    for (const to of REFUND_STATUSES) assert.equal(canRefundTransition("FAILED", to), false, `FAILED → ${to}`);
  });

  it("completes a refund only while it is open", () => {
    assert.deepEqual(refundSourcesOf("SUCCEEDED").sort(), ["PENDING", "UNKNOWN"]);
    assert.deepEqual(refundSourcesOf("UNKNOWN"), ["PENDING"]);
  });

  it("lets a refund fail after it succeeded, and nothing else leave SUCCEEDED", () => {
    assert.deepEqual(refundSourcesOf("FAILED").sort(), ["PENDING", "SUCCEEDED", "UNKNOWN"]);
    for (const to of REFUND_STATUSES) assert.equal(canRefundTransition("SUCCEEDED", to), to === "FAILED", `SUCCEEDED → ${to}`);
  });

  it("narrows the guard to the states a caller names, and refuses one the table does not allow", () => {
    assert.deepEqual(refundGuardOf("FAILED", OPEN_REFUND_STATUSES), ["PENDING", "UNKNOWN"]);
    assert.deepEqual(refundGuardOf("FAILED", "SUCCEEDED"), ["SUCCEEDED"]);
    assert.throws(() => refundGuardOf("SUCCEEDED", "FAILED"), IllegalRefundTransition);
    assert.throws(() => refundGuardOf("UNKNOWN", ["PENDING", "SUCCEEDED"]), IllegalRefundTransition);
    assert.throws(() => refundGuardOf("PENDING", []), IllegalRefundTransition);
  });
});
