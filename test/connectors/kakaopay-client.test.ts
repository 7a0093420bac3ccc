/**
 * What KakaoPay's error answers mean, through the kit's one failure rule: the class the core acts on
 * for each documented (or assumed, see the simulator's errors.ts) code and status.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyKakaoPayAnswer, readKakaoPayError, type KakaoPayOperation } from "../../src/connectors/kakaopay/client.ts";

const err = (code: number, message = "m", extras?: object) => ({ error_code: code, error_message: message, ...(extras ? { extras } : {}) });
const cls = (op: KakaoPayOperation, status: number, body: unknown) => classifyKakaoPayAnswer(op, status, body).errorClass;

describe("KakaoPay error answers", () => {
  it("keeps KakaoPay's code, message and the payment method's own result", () => {
    const failure = classifyKakaoPayAnswer(
      "approve",
      400,
      err(-780, "approval failure!", { method_result_code: "USER_LOCKED", method_result_message: "진행중인 거래가 있습니다." }),
    );
    assert.deepEqual([failure.errorClass, failure.pgCode, failure.httpStatus], ["declined", "-780", 400]);
    assert.equal(failure.pgMessage, "approval failure! (USER_LOCKED: 진행중인 거래가 있습니다.)");
  });

  it("classifies by HTTP status first, then by code", () => {
    assert.equal(cls("order", 401, err(-401)), "fatal", "a wrong SECRET_KEY is configuration");
    assert.equal(cls("ready", 401, "<html>"), "fatal");
    assert.equal(cls("approve", 500, err(-1)), "indeterminate", "a 5xx on approve may follow the effect");
    assert.equal(cls("cancel", 503, undefined), "indeterminate");
    assert.equal(cls("order", 500, err(-1)), "retryable", "a read may simply be asked again");
    assert.equal(cls("cancel", 429, undefined), "retryable", "throttled: nothing was done");
    assert.equal(cls("cancel", 400, err(-10)), "retryable", "Kakao's request quota spent");
    assert.equal(cls("approve", 400, err(-701)), "declined");
    assert.equal(cls("approve", 400, err(-723)), "declined", "expired tid");
    assert.equal(cls("approve", 400, err(-708)), "declined", "wrong pg_token");
    assert.equal(cls("approve", 400, err(-702)), "indeterminate", "already approved: perhaps by PGB's own lost call");
    assert.equal(cls("cancel", 400, err(-706)), "indeterminate", "the balance disagrees: an earlier cancel may have landed");
    assert.equal(cls("cancel", 400, err(-704)), "declined");
    assert.equal(cls("order", 400, err(-721)), "fatal", "a tid PGB stored that KakaoPay does not know is a bug");
    assert.equal(cls("ready", 400, err(-2)), "fatal");
    assert.equal(cls("ready", 404, "Not Found"), "fatal", "not KakaoPay's body: a wrong base URL");
  });

  it("reads a body that is not KakaoPay's without a code", () => {
    assert.deepEqual(readKakaoPayError(502, undefined), { meaning: "pg-fault", pgMessage: "HTTP 502" });
  });
});
