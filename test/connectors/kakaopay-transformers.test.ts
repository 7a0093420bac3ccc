import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { money } from "../../src/core/money.ts";
import {
  approveToPgPayment,
  cancelAmounts,
  cancelToRefundOutcome,
  findRefundInOrder,
  isTidExpired,
  kakaoTime,
  mapOrderStatus,
  moneyToWon,
  orderToPgPayment,
  partnerOrderId,
  partnerUserId,
  readyAmounts,
  redirectUrlFor,
  refundPayload,
  verifyPartnerOrderId,
  wonToMoney,
} from "../../src/connectors/kakaopay/transformers.ts";
import {
  KAKAOPAY_ORDER_STATUSES,
  KakaoPayApproveResponseSchema,
  KakaoPayCancelResponseSchema,
  KakaoPayOrderResponseSchema,
  KakaoPayReadyResponseSchema,
  type KakaoPayOrderResponse,
} from "../../src/connectors/kakaopay/wire.ts";

const amount = (total: number, taxFree = 0) => ({ total, tax_free: taxFree, vat: Math.round((total - taxFree) / 11), point: 0, discount: 0, green_deposit: 0 });

function order(overrides: Partial<KakaoPayOrderResponse> = {}): KakaoPayOrderResponse {
  return KakaoPayOrderResponseSchema.parse({
    tid: "T1234567890123456789",
    cid: "TC0ONETIME",
    status: "SUCCESS_PAYMENT",
    partner_order_id: "pay_1.abc",
    partner_user_id: "u_x",
    payment_method_type: "MONEY",
    amount: amount(15000),
    canceled_amount: amount(0),
    cancel_available_amount: amount(15000),
    item_name: "티셔츠",
    created_at: "2026-03-02T10:00:00",
    approved_at: "2026-03-02T10:01:00",
    canceled_at: null,
    payment_action_details: [
      {
        aid: "A1",
        approved_at: "2026-03-02T10:01:00",
        amount: 15000,
        point_amount: 0,
        discount_amount: 0,
        green_deposit: 0,
        payment_action_type: "PAYMENT",
        payload: null,
      },
    ],
    ...overrides,
  });
}

describe("KakaoPay transformers: money", () => {
  it("converts won exactly, both ways, and refuses other currencies, fractions and out-of-range amounts", () => {
    assert.deepEqual(wonToMoney(15000), money(15000n, "KRW"));
    assert.equal(moneyToWon(money(999_999_999_999n, "KRW")), 999_999_999_999);
    assert.throws(() => moneyToWon(money(1000n, "USD")), /KRW/);
    assert.throws(() => moneyToWon(money(0n, "KRW")));
    assert.throws(() => wonToMoney(10.5));
    assert.throws(() => wonToMoney(-1));
  });

  it("sends the whole amount as taxable with quantity 1 on ready", () => {
    assert.deepEqual(readyAmounts(money(15000n, "KRW")), { quantity: 1, total_amount: 15000, tax_free_amount: 0 });
  });

  it("names the available amount before the cancel, and refuses a cancel above it", () => {
    assert.deepEqual(cancelAmounts(money(4000n, "KRW"), money(10000n, "KRW")), {
      cancel_amount: 4000,
      cancel_tax_free_amount: 0,
      cancel_available_amount: 10000,
    });
    assert.throws(() => cancelAmounts(money(10001n, "KRW"), money(10000n, "KRW")));
  });
});

describe("KakaoPay transformers: status", () => {
  it("maps every order status", () => {
    const expected: Record<(typeof KAKAOPAY_ORDER_STATUSES)[number], string> = {
      READY: "PENDING",
      SEND_TMS: "PENDING",
      OPEN_PAYMENT: "PENDING",
      SELECT_METHOD: "PENDING",
      ARS_WAITING: "PENDING",
      AUTH_PASSWORD: "PENDING",
      ISSUED_SID: "PENDING",
      SUCCESS_PAYMENT: "PAID",
      PART_CANCEL_PAYMENT: "PARTIALLY_REFUNDED",
      CANCEL_PAYMENT: "REFUNDED",
      FAIL_AUTH_PASSWORD: "FAILED",
      QUIT_PAYMENT: "FAILED",
      FAIL_PAYMENT: "FAILED",
    };
    for (const status of KAKAOPAY_ORDER_STATUSES) {
      assert.equal(mapOrderStatus({ status, approved_at: "2026-03-02T10:01:00", created_at: "2026-03-02T10:00:00" }), expected[status], status);
    }
  });

  it("a cancel with no approval behind it moved no money: FAILED, not REFUNDED", () => {
    assert.equal(mapOrderStatus({ status: "CANCEL_PAYMENT", approved_at: null, created_at: "2026-03-02T10:00:00" }), "FAILED");
  });

  it("an unapproved tid is EXPIRED once its 15 minutes (Korea time) are over, PENDING before", () => {
    const created = "2026-03-02T10:00:00"; // 01:00 UTC
    assert.equal(kakaoTime(created).toISOString(), "2026-03-02T01:00:00.000Z");
    assert.equal(isTidExpired(created, new Date("2026-03-02T01:14:59Z")), false);
    assert.equal(isTidExpired(created, new Date("2026-03-02T01:15:00Z")), true);
    assert.equal(mapOrderStatus({ status: "AUTH_PASSWORD", approved_at: null, created_at: created }, new Date("2026-03-02T01:14:00Z")), "PENDING");
    assert.equal(mapOrderStatus({ status: "AUTH_PASSWORD", approved_at: null, created_at: created }, new Date("2026-03-02T01:16:00Z")), "EXPIRED");
    assert.equal(
      mapOrderStatus({ status: "SUCCESS_PAYMENT", approved_at: "2026-03-02T10:01:00", created_at: created }, new Date("2026-03-03T00:00:00Z")),
      "PAID",
      "age never un-pays a payment",
    );
  });

  it("turns order lookup and approve answers into PgPayments with the amount KakaoPay holds", () => {
    const paid = orderToPgPayment(order(), "pay_1");
    assert.deepEqual(
      [paid.pgTransactionId, paid.status, paid.amount, paid.paymentReference, paid.failure],
      ["T1234567890123456789", "PAID", money(15000n, "KRW"), "pay_1", undefined],
    );
    const quit = orderToPgPayment(order({ status: "QUIT_PAYMENT", approved_at: null, payment_method_type: null }), "pay_1");
    assert.equal(quit.status, "FAILED");
    assert.equal(quit.failure?.code, "QUIT_PAYMENT");
    const approved = approveToPgPayment(
      KakaoPayApproveResponseSchema.parse({
        aid: "A9",
        tid: "T9",
        cid: "TC0ONETIME",
        partner_order_id: "pay_2.x",
        partner_user_id: "u",
        payment_method_type: "CARD",
        amount: amount(7000),
        approved_at: "2026-03-02T10:01:00",
        card_info: { bin: "621640" },
      }),
      "pay_2",
    );
    assert.deepEqual([approved.status, approved.amount, approved.details?.aid], ["PAID", money(7000n, "KRW"), "A9"]);
  });

  it("parses KakaoPay's documented ready answer and refuses one without a tid", () => {
    const ready = {
      tid: "T1234567890123456789",
      next_redirect_app_url: "https://mockup-pg-web.kakao.com/v1/x/aInfo",
      next_redirect_mobile_url: "https://mockup-pg-web.kakao.com/v1/x/mInfo",
      next_redirect_pc_url: "https://mockup-pg-web.kakao.com/v1/x/info",
      created_at: "2023-07-15T21:18:22",
    };
    assert.equal(KakaoPayReadyResponseSchema.parse(ready).tid, "T1234567890123456789");
    assert.equal(KakaoPayReadyResponseSchema.safeParse({ ...ready, tid: undefined }).success, false);
  });
});

describe("KakaoPay transformers: refunds", () => {
  const cancel = KakaoPayCancelResponseSchema.parse({
    aid: "A2",
    tid: "T1",
    cid: "TC0ONETIME",
    status: "PART_CANCEL_PAYMENT",
    partner_order_id: "p",
    partner_user_id: "u",
    payment_method_type: "MONEY",
    amount: amount(10000),
    approved_cancel_amount: amount(4000),
    canceled_amount: amount(4000),
    cancel_available_amount: amount(6000),
    canceled_at: "2026-03-02T11:00:00",
    payload: "ref_1",
  });

  it("an answered cancel succeeded, named by its aid; a different amount is not taken as success", () => {
    assert.deepEqual(cancelToRefundOutcome(cancel, money(4000n, "KRW")), { status: "SUCCEEDED", pgRefundId: "A2" });
    assert.equal(cancelToRefundOutcome(cancel, money(4001n, "KRW")).status, "FAILED");
  });

  it("finds a cancel whose answer was lost by its payload in the order's history, or knows it never happened", () => {
    const history = order({
      status: "PART_CANCEL_PAYMENT",
      payment_action_details: [
        { aid: "A1", approved_at: "2026-03-02T10:01:00", amount: 15000, payment_action_type: "PAYMENT", payload: null },
        { aid: "A2", approved_at: "2026-03-02T11:00:00", amount: 4000, payment_action_type: "CANCEL", payload: "ref_1" },
      ],
    });
    assert.deepEqual(findRefundInOrder(history, "ref_1", money(4000n, "KRW")), { status: "SUCCEEDED", pgRefundId: "A2" });
    assert.deepEqual(findRefundInOrder(history, "ref_2", money(4000n, "KRW")), { status: "NOT_FOUND" });
    assert.equal(findRefundInOrder(history, "ref_1", money(5000n, "KRW")).status, "FAILED");
    assert.deepEqual(findRefundInOrder(order({ payment_action_details: null }), "ref_1", money(1n, "KRW")), { status: "NOT_FOUND" });
    assert.throws(() => refundPayload("x".repeat(201)));
  });
});

describe("KakaoPay transformers: partner ids and redirects", () => {
  it("derives a verifiable partner_order_id from PGB's payment id that the host's OrderId alone cannot forge", () => {
    const id = partnerOrderId("pay_01JABC", "secret-1");
    assert.ok(id.startsWith("pay_01JABC.") && id.length <= 100);
    assert.equal(partnerOrderId("pay_01JABC", "secret-1"), id, "stable: approve must repeat the ready's value");
    assert.notEqual(partnerOrderId("pay_01JABC", "secret-2"), id);
    assert.equal(verifyPartnerOrderId(id, "secret-1"), "pay_01JABC");
    assert.equal(verifyPartnerOrderId(id, "secret-2"), undefined);
    assert.equal(verifyPartnerOrderId(`${id.slice(0, -1)}x`, "secret-1"), undefined);
    assert.equal(verifyPartnerOrderId("pay_01JABC", "secret-1"), undefined);
    assert.throws(() => partnerOrderId("p".repeat(90), "s"));
  });

  it("derives a stable, opaque partner_user_id per tenant and joiner", () => {
    const a = partnerUserId("SHOP", 123456, "s");
    assert.equal(partnerUserId("SHOP", 123456, "s"), a);
    assert.notEqual(partnerUserId("SHOP", 123457, "s"), a);
    assert.notEqual(partnerUserId("OTHER", 123456, "s"), a);
    assert.notEqual(partnerUserId("SHOP", 123456, "t"), a);
    assert.doesNotMatch(a, /123456|SHOP/);
    assert.ok(a.length <= 100);
  });

  it("picks the mobile URL for phones and tablets, the PC URL otherwise", () => {
    const ready = { next_redirect_pc_url: "https://k/pc", next_redirect_mobile_url: "https://k/m" };
    const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
    const android = "Mozilla/5.0 (Linux; Android 14; SM-S911N) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";
    const desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
    assert.equal(redirectUrlFor(ready, iphone), "https://k/m");
    assert.equal(redirectUrlFor(ready, android), "https://k/m");
    assert.equal(redirectUrlFor(ready, "Mozilla/5.0 (Linux; Android 14) KAKAOTALK 10.4.5"), "https://k/m");
    assert.equal(redirectUrlFor(ready, desktop), "https://k/pc");
    assert.equal(redirectUrlFor(ready, undefined), "https://k/pc");
  });
});
