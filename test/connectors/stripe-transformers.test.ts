import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CURRENCY_EXPONENTS, currencyExponent, type CurrencyCode } from "../../src/core/currency.ts";
import { ConnectorError, type CheckoutInput } from "../../src/core/ports/connector.ts";
import {
  checkoutExpiresAt,
  fromStripeAmount,
  stripeExponent,
  STRIPE_ZERO_DECIMAL_CURRENCIES,
  toPgPayment,
  toPgPaymentStatus,
  toRefundOutcome,
  toSessionCreateParams,
  toStripeAmount,
  toWebhookAction,
  withQuery,
} from "../../src/connectors/stripe/transformers.ts";
import type { StripeCharge, StripeCheckoutSession, StripeEvent, StripePaymentIntent, StripeRefund } from "../../src/connectors/stripe/wire.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";

function session(overrides: Partial<StripeCheckoutSession> = {}): StripeCheckoutSession {
  return {
    id: "cs_test_1",
    object: "checkout.session",
    status: "open",
    payment_status: "unpaid",
    amount_total: 10000,
    currency: "krw",
    client_reference_id: "pay_1",
    metadata: { pgb_payment_id: "pay_1", tenant: "shop", order_id: "7" },
    payment_intent: null,
    url: "https://checkout.example/cs_test_1",
    expires_at: 2_000_000_000,
    ...overrides,
  };
}

function charge(overrides: Partial<StripeCharge> = {}): StripeCharge {
  return {
    id: "ch_1",
    object: "charge",
    amount: 10000,
    amount_refunded: 0,
    currency: "krw",
    refunded: false,
    payment_intent: "pi_1",
    metadata: {},
    ...overrides,
  };
}

function intent(overrides: Partial<StripePaymentIntent> = {}): StripePaymentIntent {
  return {
    id: "pi_1",
    object: "payment_intent",
    amount: 10000,
    amount_received: 10000,
    currency: "krw",
    status: "succeeded",
    latest_charge: charge(),
    last_payment_error: null,
    metadata: {},
    ...overrides,
  };
}

function checkoutInput(overrides: Partial<CheckoutInput> = {}): CheckoutInput {
  return {
    paymentId: brand<PaymentId>("pay_1"),
    tenant: "shop",
    orderId: 7,
    joinerId: 3,
    amount: { minor: 1999n, currency: "USD" },
    payType: "CARD",
    nationCode: "US",
    description: "Two books",
    returnUrl: "https://pgb.example/PGB/Return/pay_1",
    webhookUrl: "https://pgb.example/PGB/Webhook/shop/STRIPE",
    expiresAt: new Date("2030-01-01T01:00:00Z"),
    idempotencyKey: "paystart-pay_1",
    ...overrides,
  };
}

function event(type: string, object: Record<string, unknown>): StripeEvent {
  return { id: "evt_1", object: "event", type, created: 1, livemode: false, data: { object } };
}

describe("Stripe amount conversion", () => {
  it("sends KRW, JPY and VND as whole units because Stripe treats them as zero-decimal", () => {
    assert.equal(toStripeAmount({ minor: 10000n, currency: "KRW" }), 10000);
    assert.equal(toStripeAmount({ minor: 500n, currency: "JPY" }), 500);
    assert.equal(toStripeAmount({ minor: 250000n, currency: "VND" }), 250000);
  });

  it("sends two-decimal currencies in cents", () => {
    assert.equal(toStripeAmount({ minor: 1999n, currency: "USD" }), 1999);
    assert.equal(toStripeAmount({ minor: 1000n, currency: "EUR" }), 1000);
  });

  it("agrees with PGB's exponent for every currency PGB settles in, so no amount is scaled", () => {
    for (const currency of Object.keys(CURRENCY_EXPONENTS) as CurrencyCode[]) {
      assert.equal(stripeExponent(currency), currencyExponent(currency), currency);
    }
  });

  it("lists the zero-decimal currencies from Stripe's documentation", () => {
    for (const currency of ["KRW", "JPY", "VND", "CLP", "XOF"]) assert.ok(STRIPE_ZERO_DECIMAL_CURRENCIES.has(currency), currency);
    assert.ok(!STRIPE_ZERO_DECIMAL_CURRENCIES.has("USD"));
  });

  it("reads Stripe's lowercase currency and integer amount back into Money", () => {
    assert.deepEqual(fromStripeAmount(10000, "krw"), { minor: 10000n, currency: "KRW" });
    assert.deepEqual(fromStripeAmount(1999, "usd"), { minor: 1999n, currency: "USD" });
  });

  it("refuses a currency PGB does not settle in as a fatal connector error", () => {
    assert.throws(
      () => fromStripeAmount(100, "xyz"),
      (error: unknown) => error instanceof ConnectorError && error.errorClass === "fatal",
    );
  });
});

describe("Stripe checkout session parameters", () => {
  const now = new Date("2030-01-01T00:00:00Z");
  const nowSeconds = Math.floor(now.getTime() / 1000);

  it("builds one price_data line item in Stripe's unit with PGB's references", () => {
    const params = toSessionCreateParams(checkoutInput(), now);
    assert.equal(params.mode, "payment");
    assert.deepEqual(params.line_items, [{ quantity: 1, price_data: { currency: "usd", unit_amount: 1999, product_data: { name: "Two books" } } }]);
    assert.equal(params.client_reference_id, "pay_1");
    assert.deepEqual(params.metadata, { pgb_payment_id: "pay_1", tenant: "shop", order_id: "7" });
    assert.equal(params.success_url, "https://pgb.example/PGB/Return/pay_1?session_id={CHECKOUT_SESSION_ID}");
    assert.equal(params.cancel_url, "https://pgb.example/PGB/Return/pay_1?cancelled=1");
    assert.equal(params.expires_at, nowSeconds + 3600);
  });

  it("appends to a return URL that already has a query", () => {
    assert.equal(withQuery("https://pgb.example/r?p=1", "cancelled=1"), "https://pgb.example/r?p=1&cancelled=1");
  });

  it("names the product after the order when the description is blank", () => {
    const params = toSessionCreateParams(checkoutInput({ description: "  " }), now);
    assert.equal(params.line_items?.[0]?.price_data?.product_data?.name, "Order 7");
  });

  it("keeps an expiry inside Stripe's window as it is", () => {
    assert.equal(checkoutExpiresAt(new Date((nowSeconds + 2 * 3600) * 1000), now), nowSeconds + 2 * 3600);
  });

  it("pushes an expiry shorter than Stripe's 30 minutes out, by a fixed amount so retries send the same value", () => {
    const expiresAt = new Date((nowSeconds + 10 * 60) * 1000);
    const first = checkoutExpiresAt(expiresAt, now);
    const retried = checkoutExpiresAt(expiresAt, new Date(now.getTime() + 3 * 60_000));
    assert.equal(first, retried);
    assert.ok(first !== undefined && first >= nowSeconds + 30 * 60 + 60);
  });

  it("leaves the expiry to Stripe's 24 hour default when PGB asks for longer", () => {
    assert.equal(checkoutExpiresAt(new Date((nowSeconds + 25 * 3600) * 1000), now), undefined);
  });
});

describe("Stripe payment status mapping", () => {
  it("maps an open session to PENDING", () => {
    assert.equal(toPgPaymentStatus(session(), null), "PENDING");
  });

  it("maps a complete and paid session to PAID", () => {
    assert.equal(toPgPaymentStatus(session({ status: "complete", payment_status: "paid", payment_intent: "pi_1" }), intent()), "PAID");
  });

  it("maps a complete but unpaid session with a processing intent to PENDING, as a delayed method is still settling", () => {
    assert.equal(toPgPaymentStatus(session({ status: "complete", payment_status: "unpaid" }), intent({ status: "processing", amount_received: 0 })), "PENDING");
  });

  it("maps a complete but unpaid session whose intent went back to requires_payment_method to FAILED", () => {
    assert.equal(
      toPgPaymentStatus(session({ status: "complete", payment_status: "unpaid" }), intent({ status: "requires_payment_method", amount_received: 0 })),
      "FAILED",
    );
  });

  it("maps a complete but unpaid session with a canceled intent to FAILED", () => {
    assert.equal(toPgPaymentStatus(session({ status: "complete", payment_status: "unpaid" }), intent({ status: "canceled", amount_received: 0 })), "FAILED");
  });

  it("maps an expired session to EXPIRED", () => {
    assert.equal(toPgPaymentStatus(session({ status: "expired", url: null }), null), "EXPIRED");
  });

  it("maps statuses Stripe may add later to PENDING rather than guessing", () => {
    assert.equal(toPgPaymentStatus(session({ status: "other" }), null), "PENDING");
    assert.equal(toPgPaymentStatus(session({ status: null }), null), "PENDING");
    assert.equal(toPgPaymentStatus(session({ status: "complete", payment_status: "other" }), intent()), "PENDING");
    assert.equal(toPgPaymentStatus(session({ status: "complete", payment_status: "unpaid" }), intent({ status: "other" })), "PENDING");
  });

  it("does not call a paid session PAID when its intent received another amount", () => {
    assert.equal(toPgPaymentStatus(session({ status: "complete", payment_status: "paid" }), intent({ amount_received: 9000 })), "PENDING");
  });

  it("reflects a partial refund on the charge as PARTIALLY_REFUNDED and a full one as REFUNDED", () => {
    const paid = session({ status: "complete", payment_status: "paid" });
    assert.equal(toPgPaymentStatus(paid, intent({ latest_charge: charge({ amount_refunded: 3000 }) })), "PARTIALLY_REFUNDED");
    assert.equal(toPgPaymentStatus(paid, intent({ latest_charge: charge({ amount_refunded: 10000, refunded: true }) })), "REFUNDED");
  });

  it("reports the session's amount and PGB's payment id, with the decline reason on failure", () => {
    const payment = toPgPayment(
      session({ status: "complete", payment_status: "unpaid", payment_intent: "pi_1" }),
      intent({
        status: "requires_payment_method",
        amount_received: 0,
        last_payment_error: { code: "payment_method_provider_decline", decline_code: "insufficient_funds", message: "No funds" },
      }),
    );
    assert.equal(payment.status, "FAILED");
    assert.deepEqual(payment.amount, { minor: 10000n, currency: "KRW" });
    assert.equal(payment.paymentReference, "pay_1");
    assert.deepEqual(payment.failure, { code: "insufficient_funds", message: "No funds" });
    assert.equal(payment.details?.paymentIntentId, "pi_1");
  });
});

describe("Stripe refund outcome mapping", () => {
  const refund = (overrides: Partial<StripeRefund>): StripeRefund => ({
    id: "re_1",
    object: "refund",
    amount: 100,
    currency: "krw",
    status: "succeeded",
    payment_intent: "pi_1",
    charge: "ch_1",
    metadata: {},
    ...overrides,
  });

  it("maps succeeded to SUCCEEDED", () => {
    assert.deepEqual(toRefundOutcome(refund({})), { status: "SUCCEEDED", pgRefundId: "re_1" });
  });

  it("maps pending, requires_action and unknown statuses to PENDING", () => {
    for (const status of ["pending", "requires_action", "other"] as const)
      assert.deepEqual(toRefundOutcome(refund({ status })), { status: "PENDING", pgRefundId: "re_1" });
  });

  it("maps failed and canceled to FAILED with Stripe's failure reason as the code", () => {
    const failed = toRefundOutcome(refund({ status: "failed", failure_reason: "expired_or_canceled_card" }));
    assert.equal(failed.status, "FAILED");
    assert.equal(failed.status === "FAILED" ? failed.code : undefined, "expired_or_canceled_card");
    const canceled = toRefundOutcome(refund({ status: "canceled" }));
    assert.equal(canceled.status === "FAILED" ? canceled.code : undefined, "canceled");
  });
});

describe("Stripe webhook event mapping", () => {
  const sessionObject = { id: "cs_test_1", object: "checkout.session", client_reference_id: "pay_1", metadata: { pgb_payment_id: "pay_1", tenant: "shop" } };

  it("turns every checkout.session outcome event into a payment action naming the session and PGB's payment", () => {
    for (const type of [
      "checkout.session.completed",
      "checkout.session.async_payment_succeeded",
      "checkout.session.async_payment_failed",
      "checkout.session.expired",
    ]) {
      assert.deepEqual(
        toWebhookAction(event(type, sessionObject), "shop"),
        { kind: "payment", eventId: "evt_1", pgTransactionId: "cs_test_1", paymentReference: "pay_1" },
        type,
      );
    }
  });

  it("turns refund events into refund actions that name the refund where Stripe does", () => {
    const refundObject = { id: "re_1", object: "refund", payment_intent: "pi_1", metadata: { pgb_payment_id: "pay_1", tenant: "shop" } };
    assert.deepEqual(toWebhookAction(event("refund.failed", refundObject), "shop"), {
      kind: "refund",
      eventId: "evt_1",
      paymentReference: "pay_1",
      pgRefundId: "re_1",
    });
    assert.deepEqual(toWebhookAction(event("refund.updated", refundObject), "shop"), {
      kind: "refund",
      eventId: "evt_1",
      paymentReference: "pay_1",
      pgRefundId: "re_1",
    });
    const chargeObject = { id: "ch_1", object: "charge", payment_intent: "pi_1", metadata: { pgb_payment_id: "pay_1" } };
    assert.deepEqual(toWebhookAction(event("charge.refunded", chargeObject), "shop"), { kind: "refund", eventId: "evt_1", paymentReference: "pay_1" });
  });

  it("ignores event types PGB does not act on", () => {
    assert.equal(toWebhookAction(event("payment_intent.succeeded", { id: "pi_1", object: "payment_intent" }), "shop").kind, "ignored");
  });

  it("ignores a session another tenant created on a shared Stripe account", () => {
    const action = toWebhookAction(event("checkout.session.completed", { ...sessionObject, metadata: { pgb_payment_id: "pay_1", tenant: "other" } }), "shop");
    assert.equal(action.kind, "ignored");
  });

  it("ignores a session PGB did not create", () => {
    const action = toWebhookAction(
      event("checkout.session.completed", { id: "cs_test_2", object: "checkout.session", client_reference_id: null, metadata: {} }),
      "shop",
    );
    assert.equal(action.kind, "ignored");
  });

  it("rejects a checkout event whose object is not a session", () => {
    assert.equal(toWebhookAction(event("checkout.session.completed", { id: "ch_1", object: "charge" }), "shop").kind, "rejected");
  });
});
