import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { money } from "../../src/core/money.ts";
import { classifyHttpError } from "../../src/connectors/toss/client.ts";
import {
  bankName,
  confirmIdempotencyKey,
  depositCallbackEventId,
  methodOf,
  idempotencyKey,
  mapStatus,
  normaliseMethod,
  readDetails,
  refundOutcomeOf,
  returnAmountMatches,
  sdkMethodFor,
  statusChangedEventId,
  successReturnParams,
  toPgPayment,
  tossOrderIdFor,
} from "../../src/connectors/toss/transformers.ts";
import { TossDepositCallbackSchema, TossPaymentSchema, type TossPayment } from "../../src/connectors/toss/wire.ts";

function payment(overrides: Partial<TossPayment> = {}): TossPayment {
  return TossPaymentSchema.parse({
    mId: "tosspayments",
    version: "2022-11-16",
    paymentKey: "tgen_20260302abc",
    orderId: "pay_0001abcdef",
    orderName: "티셔츠",
    status: "DONE",
    method: "카드",
    currency: "KRW",
    totalAmount: 15000,
    balanceAmount: 15000,
    requestedAt: "2026-03-02T10:00:00+09:00",
    approvedAt: "2026-03-02T10:01:00+09:00",
    cancels: null,
    virtualAccount: null,
    secret: null,
    failure: null,
    ...overrides,
  });
}

const va = {
  accountType: "일반",
  accountNumber: "X1234567890123",
  bankCode: "88",
  customerName: "홍길동",
  dueDate: "2026-03-09T10:00:00+09:00",
  expired: false,
  settlementStatus: "INCOMPLETED",
  refundStatus: "NONE",
  refundReceiveAccount: null,
};

describe("Toss status mapping", () => {
  it("maps every Toss status to PGB's, treating unauthenticated and unconfirmed payments as pending", () => {
    const cases: Array<[TossPayment["status"], string]> = [
      ["READY", "PENDING"],
      ["IN_PROGRESS", "PENDING"],
      ["WAITING_FOR_DEPOSIT", "WAITING_FOR_DEPOSIT"],
      ["DONE", "PAID"],
      ["CANCELED", "REFUNDED"],
      ["PARTIAL_CANCELED", "PARTIALLY_REFUNDED"],
      ["ABORTED", "FAILED"],
      ["EXPIRED", "EXPIRED"],
    ];
    for (const [status, expected] of cases) assert.equal(mapStatus(payment({ status })), expected, status);
  });

  it("maps a payment cancelled before any money moved to FAILED, not REFUNDED", () => {
    assert.equal(mapStatus(payment({ status: "CANCELED", approvedAt: null, virtualAccount: va })), "FAILED");
  });

  it("maps a lapsed virtual account to EXPIRED whether Toss leaves it waiting, cancels or expires it", () => {
    const lapsed = { ...va, expired: true };
    assert.equal(mapStatus(payment({ status: "WAITING_FOR_DEPOSIT", approvedAt: null, virtualAccount: lapsed })), "EXPIRED");
    assert.equal(mapStatus(payment({ status: "CANCELED", approvedAt: null, virtualAccount: lapsed })), "EXPIRED");
    assert.equal(mapStatus(payment({ status: "EXPIRED", approvedAt: null, virtualAccount: lapsed })), "EXPIRED");
  });

  it("refuses a status Toss never documented instead of guessing", () => {
    assert.equal(TossPaymentSchema.safeParse({ ...payment(), status: "SETTLED" }).success, false);
  });
});

describe("Toss payment conversion", () => {
  it("turns a confirmed card payment into PAID with the paymentKey and the normalised method in details", () => {
    const result = toPgPayment(payment(), "pay_0001abcdef");
    assert.equal(result.status, "PAID");
    assert.equal(result.pgTransactionId, "tgen_20260302abc");
    assert.deepEqual(result.amount, money(15000n, "KRW"));
    assert.equal(result.paymentReference, "pay_0001abcdef");
    assert.deepEqual(result.details, { paymentKey: "tgen_20260302abc", tossOrderId: "pay_0001abcdef", method: "CARD" });
    assert.equal(result.failure, undefined);
  });

  it("turns an issued virtual account into WAITING_FOR_DEPOSIT with bank name, number, holder, due date and the deposit secret", () => {
    const result = toPgPayment(
      payment({ status: "WAITING_FOR_DEPOSIT", approvedAt: null, method: "가상계좌", virtualAccount: va, secret: "ps_abc" }),
      "pay_0001abcdef",
    );
    assert.equal(result.status, "WAITING_FOR_DEPOSIT");
    assert.deepEqual(result.virtualAccount, { bank: "신한은행", accountNumber: "X1234567890123", holderName: "홍길동", dueDate: "2026-03-09T10:00:00+09:00" });
    assert.equal(result.details?.secret, "ps_abc");
    assert.equal(result.details?.bankCode, "88");
    assert.equal(result.details?.method, "VIRTUAL_ACCOUNT");
  });

  it("carries Toss's failure on an aborted payment, and a made-up one when Toss gives none", () => {
    const aborted = toPgPayment(payment({ status: "ABORTED", approvedAt: null, failure: { code: "REJECT_CARD_COMPANY", message: "거절" } }), "r");
    assert.deepEqual(aborted.failure, { code: "REJECT_CARD_COMPANY", message: "거절" });
    const expired = toPgPayment(payment({ status: "EXPIRED", approvedAt: null }), "r");
    assert.equal(expired.failure?.code, "EXPIRED");
  });

  it("reads Korean and English method labels alike", () => {
    assert.equal(normaliseMethod("카드"), "CARD");
    assert.equal(normaliseMethod("CARD"), "CARD");
    assert.equal(normaliseMethod("가상계좌"), "VIRTUAL_ACCOUNT");
    assert.equal(normaliseMethod("virtual_account"), "VIRTUAL_ACCOUNT");
    assert.equal(normaliseMethod("간편결제"), "EASY_PAY");
    assert.equal(normaliseMethod("문화상품권"), "GIFT_CERTIFICATE");
    assert.equal(normaliseMethod("포인트"), "OTHER");
    assert.equal(normaliseMethod(null), undefined);
  });

  it("reads back details PGB stored, ignoring what is not a string", () => {
    assert.deepEqual(readDetails({ paymentKey: "k", method: "가상계좌", secret: 5 }), {
      paymentKey: "k",
      tossOrderId: undefined,
      method: "VIRTUAL_ACCOUNT",
      secret: undefined,
      bankCode: undefined,
    });
    assert.deepEqual(readDetails(undefined), {});
  });

  it("names the banks Toss issues accounts at and passes unknown codes through", () => {
    assert.equal(bankName("20"), "우리은행");
    assert.equal(bankName("99"), "99");
  });
});

describe("Toss orderId and amounts", () => {
  it("uses PGB's payment id as Toss's orderId when it fits Toss's rule, and a stable digest otherwise", () => {
    assert.equal(tossOrderIdFor("pay_0mabc123def4567890"), "pay_0mabc123def4567890");
    const odd = tossOrderIdFor("pay.with.dots");
    assert.match(odd, /^pgb-[A-Za-z0-9_-]{40}$/);
    assert.equal(tossOrderIdFor("pay.with.dots"), odd);
    assert.match(tossOrderIdFor("x".repeat(65)), /^pgb-/);
    assert.match(tossOrderIdFor("abc"), /^pgb-/);
  });

  it("accepts a returned amount only when it is exactly the stored won in Toss's plain notation", () => {
    const stored = money(50000n, "KRW");
    assert.equal(returnAmountMatches("50000", stored), true);
    for (const bad of ["50001", "100", "50000.0", "+50000", "050000", "5e4", "", " 50000", "-50000"]) {
      assert.equal(returnAmountMatches(bad, stored), false, bad);
    }
    assert.equal(returnAmountMatches("1999", money(1999n, "USD")), false);
  });

  it("recognises a success return only with paymentKey, orderId and amount all present", () => {
    assert.deepEqual(successReturnParams({ paymentKey: "k", orderId: "o", amount: "1", paymentType: "NORMAL" }), {
      paymentKey: "k",
      orderId: "o",
      amount: "1",
    });
    assert.equal(successReturnParams({ paymentKey: "k", orderId: "o" }), undefined);
  });

  it("knows a virtual account by its virtualAccount object when method is empty or null", () => {
    const va = {
      accountNumber: "X1",
      bankCode: "88",
      customerName: "홍길동",
      dueDate: "2026-03-09T00:00:00+09:00",
      expired: false,
      settlementStatus: "COMPLETED",
      refundStatus: "NONE",
    };
    assert.equal(methodOf({ method: null, virtualAccount: va } as never), "VIRTUAL_ACCOUNT");
    assert.equal(methodOf({ method: "", virtualAccount: va } as never), "VIRTUAL_ACCOUNT");
    assert.equal(methodOf({ method: "카드", virtualAccount: null } as never), "CARD");
    assert.equal(methodOf({ method: null, virtualAccount: null } as never), undefined);
  });

  it("maps PayTypes to the SDK's methods and refuses PayPal", () => {
    assert.equal(sdkMethodFor("CARD"), "CARD");
    assert.equal(sdkMethodFor("VIRTUAL_ACCOUNT"), "VIRTUAL_ACCOUNT");
    assert.equal(sdkMethodFor("EASY_PAY"), "CARD");
    assert.equal(sdkMethodFor("PAYPAL"), undefined);
  });
});

describe("Toss refunds, keys and event ids", () => {
  const cancel = (transactionKey: string, canceledAt: string, cancelStatus = "DONE") => ({
    transactionKey,
    cancelReason: "x",
    cancelAmount: 1000,
    canceledAt,
    cancelStatus,
  });

  it("takes the newest cancel of the answer as the refund just made", () => {
    const answer = payment({ status: "PARTIAL_CANCELED", cancels: [cancel("A", "2026-03-02T10:05:00+09:00"), cancel("B", "2026-03-02T10:06:00+09:00")] });
    assert.deepEqual(refundOutcomeOf(answer), { status: "SUCCEEDED", pgRefundId: "B" });
    assert.equal(refundOutcomeOf(payment({ cancels: null })), undefined);
    assert.equal(refundOutcomeOf(payment({ cancels: [cancel("C", "2026-03-02T10:05:00+09:00", "IN_PROGRESS")] }))?.status, "PENDING");
    assert.equal(refundOutcomeOf(payment({ cancels: [cancel("D", "2026-03-02T10:05:00+09:00", "ABORTED")] }))?.status, "FAILED");
  });

  it("derives one confirm key per payment and paymentKey, and keeps every key within Toss's 300 characters", () => {
    assert.equal(confirmIdempotencyKey("pay_1", "k1"), confirmIdempotencyKey("pay_1", "k1"));
    assert.notEqual(confirmIdempotencyKey("pay_1", "k1"), confirmIdempotencyKey("pay_1", "k2"));
    assert.equal(idempotencyKey("mm_123"), "mm_123");
    assert.ok(idempotencyKey("x".repeat(400)).length <= 300);
    assert.equal(idempotencyKey("x".repeat(400)), idempotencyKey("x".repeat(400)));
  });

  it("derives webhook event ids from what identifies the change, so resends collide and changes do not", () => {
    const event = { eventType: "PAYMENT_STATUS_CHANGED" as const, createdAt: "2026-03-02T10:00:00.000000", data: payment() };
    assert.equal(statusChangedEventId(event), "PAYMENT_STATUS_CHANGED:tgen_20260302abc:DONE:2026-03-02T10:00:00.000000");
    const top = TossDepositCallbackSchema.parse({
      createdAt: "2026-03-02T10:00:00.000000",
      secret: "s",
      status: "DONE",
      transactionKey: "T1",
      orderId: "pay_1abcdef",
    });
    const nested = TossDepositCallbackSchema.parse({
      eventType: "DEPOSIT_CALLBACK",
      createdAt: "2026-03-02T10:00:00.000000",
      data: { createdAt: "2026-03-02T10:00:00.000000", secret: "s", status: "DONE", transactionKey: "T1", orderId: "pay_1abcdef" },
    });
    assert.equal(depositCallbackEventId(top), "DEPOSIT:pay_1abcdef:DONE:T1:2026-03-02T10:00:00.000000");
    assert.equal(depositCallbackEventId(nested), depositCallbackEventId(top));
    assert.notEqual(depositCallbackEventId({ ...top, status: "CANCELED" }), depositCallbackEventId(top));
  });
});

describe("Toss error classification", () => {
  const body = (code: string) => JSON.stringify({ code, message: "m" });

  it("declines business refusals and keeps Toss's code", () => {
    for (const code of ["NOT_CANCELABLE_AMOUNT", "INVALID_REFUND_ACCOUNT_NUMBER", "ALREADY_PROCESSED_PAYMENT", "NOT_FOUND_PAYMENT", "REJECT_CARD_COMPANY"]) {
      const error = classifyHttpError("POST", "/p", code === "NOT_FOUND_PAYMENT" ? 404 : 400, body(code));
      assert.equal(error.errorClass, "declined", code);
      assert.equal(error.pgCode, code);
    }
  });

  it("treats Toss's own faults as retryable for reads and indeterminate for writes, whatever the HTTP status", () => {
    assert.equal(classifyHttpError("GET", "/p", 500, body("FAILED_INTERNAL_SYSTEM_PROCESSING")).errorClass, "retryable");
    assert.equal(classifyHttpError("POST", "/p", 500, body("FAILED_INTERNAL_SYSTEM_PROCESSING")).errorClass, "indeterminate");
    assert.equal(classifyHttpError("POST", "/p", 400, body("PROVIDER_ERROR")).errorClass, "indeterminate");
    assert.equal(classifyHttpError("GET", "/p", 400, body("PROVIDER_ERROR")).errorClass, "retryable");
    assert.equal(classifyHttpError("POST", "/p", 502, "<html>bad gateway</html>").errorClass, "indeterminate");
    assert.equal(classifyHttpError("POST", "/p", 429, body("TOO_MANY_REQUESTS")).errorClass, "retryable");
  });

  it("makes bad credentials and answers that are not Toss's fatal", () => {
    assert.equal(classifyHttpError("GET", "/p", 401, body("UNAUTHORIZED_KEY")).errorClass, "fatal");
    assert.equal(classifyHttpError("POST", "/p", 400, body("INVALID_API_KEY")).errorClass, "fatal");
    assert.equal(classifyHttpError("GET", "/p", 404, "Not Found").errorClass, "fatal");
  });
});
