import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyPgFailure, transportFailure, type PgAnswerMeaning } from "../../src/connectors/kit/pg-failure.ts";

describe("the one PG failure rule", () => {
  it("retries a request that never left, for a write as for a read", () => {
    for (const writes of [true, false]) {
      const error = classifyPgFailure(transportFailure("ECONNREFUSED", false), writes, "X POST /refund");
      assert.equal(error.errorClass, "retryable");
      assert.equal(error.pgCode, "ECONNREFUSED");
    }
  });

  it("asks the PG later about a write whose answer was lost, and retries such a read", () => {
    assert.equal(classifyPgFailure(transportFailure(undefined, true), true, "X").errorClass, "indeterminate");
    assert.equal(classifyPgFailure(transportFailure("ECONNRESET", false), true, "X").errorClass, "indeterminate");
    assert.equal(classifyPgFailure(transportFailure(undefined, true), false, "X").errorClass, "retryable");
  });

  it("maps what the PG's answer means to one class, keeping the PG's code and message as fields", () => {
    const cases: Array<[PgAnswerMeaning, boolean, string]> = [
      ["declined", true, "declined"],
      ["unprocessed", true, "retryable"],
      ["pg-fault", true, "indeterminate"],
      ["pg-fault", false, "retryable"],
      ["misconfigured", false, "fatal"],
    ];
    for (const [meaning, writes, errorClass] of cases) {
      const error = classifyPgFailure({ kind: "answered", meaning, httpStatus: 400, pgCode: "SOME_CODE", pgMessage: "the PG's words" }, writes, "X POST /p");
      assert.equal(error.errorClass, errorClass, `${meaning} writes=${writes}`);
      assert.equal(error.pgCode, "SOME_CODE");
      assert.equal(error.pgMessage, "the PG's words");
      assert.equal(error.httpStatus, 400);
    }
  });

  it("treats a success PGB cannot read as done for a write and as useless for a read", () => {
    assert.equal(classifyPgFailure({ kind: "unreadable-success", detail: "status: missing" }, true, "X").errorClass, "indeterminate");
    assert.equal(classifyPgFailure({ kind: "unreadable-success", detail: "status: missing" }, false, "X").errorClass, "fatal");
  });
});
