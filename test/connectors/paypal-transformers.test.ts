/**
 * PayPal's pure mappings: amounts both ways (exact, zero-decimal currencies, refused currencies),
 * the status tables, refund outcomes, error classes and webhook references.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectorError } from "../../src/core/ports/connector.ts";
import { randomUUID } from "node:crypto";
import {
  approvalLink,
  captureStatusToPg,
  fromPayPalAmount,
  orderStatusToPg,
  PAYPAL_PGB_CURRENCIES,
  pgPaymentFromOrder,
  refundOutcome,
  toPayPalAmount,
} from "../../src/connectors/paypal/payment-transformers.ts";
import { classifyPayPalError, toConnectorError } from "../../src/connectors/paypal/error-transformers.ts";
import {
  eventReferences,
  isAllowedCertUrl,
  readTransmissionHeaders,
  verifyPayPalTransmission,
  webhookAction,
} from "../../src/connectors/paypal/webhook-transformers.ts";
import { PayPalOrderSchema, PayPalRefundSchema, PayPalWebhookEventSchema } from "../../src/connectors/paypal/wire.ts";
import { money } from "../../src/core/money.ts";
import { makeSigningIdentity, paypalSignedMessage, signMessage } from "../simulators/paypal/signing.ts";

function fatal(code: string) {
  return (error: unknown) => error instanceof ConnectorError && error.errorClass === "fatal" && error.pgCode === code;
}

describe("PayPal amounts", () => {
  it("prints two-decimal currencies with exactly two decimals", () => {
    assert.deepEqual(toPayPalAmount(money(1999n, "USD")), { currency_code: "USD", value: "19.99" });
    assert.deepEqual(toPayPalAmount(money(5n, "EUR")), { currency_code: "EUR", value: "0.05" });
    assert.deepEqual(toPayPalAmount(money(100000n, "GBP")), { currency_code: "GBP", value: "1000.00" });
    assert.deepEqual(toPayPalAmount(money(999999999999999n, "USD")), { currency_code: "USD", value: "9999999999999.99" });
  });

  it("prints JPY, TWD and HUF in whole units, though PGB keeps TWD and HUF in hundredths", () => {
    assert.deepEqual(toPayPalAmount(money(15000n, "JPY")), { currency_code: "JPY", value: "15000" });
    assert.deepEqual(toPayPalAmount(money(150000n, "TWD")), { currency_code: "TWD", value: "1500" });
    assert.deepEqual(toPayPalAmount(money(990000n, "HUF")), { currency_code: "HUF", value: "9900" });
  });

  it("refuses a TWD or HUF amount with cents rather than rounding it", () => {
    assert.throws(() => toPayPalAmount(money(150050n, "TWD")), fatal("DECIMALS_NOT_SUPPORTED"));
    assert.throws(() => toPayPalAmount(money(1n, "HUF")), fatal("DECIMALS_NOT_SUPPORTED"));
  });

  it("refuses the currencies PayPal does not take, and a zero amount", () => {
    assert.throws(() => toPayPalAmount(money(10000n, "KRW")), fatal("CURRENCY_NOT_SUPPORTED"));
    assert.throws(() => toPayPalAmount(money(10000n, "VND")), fatal("CURRENCY_NOT_SUPPORTED"));
    assert.throws(() => toPayPalAmount(money(10000n, "RON")), fatal("CURRENCY_NOT_SUPPORTED"));
    assert.throws(() => toPayPalAmount(money(0n, "USD")), fatal("CANNOT_BE_ZERO_OR_NEGATIVE"));
  });

  it("lists exactly PGB's currencies that PayPal takes", () => {
    assert.deepEqual([...PAYPAL_PGB_CURRENCIES].sort(), ["CZK", "DKK", "EUR", "GBP", "HUF", "JPY", "PLN", "SEK", "SGD", "THB", "TWD", "USD"]);
  });

  it("reads PayPal's amounts back to the same Money", () => {
    for (const m of [money(1999n, "USD"), money(15000n, "JPY"), money(150000n, "TWD"), money(990000n, "HUF"), money(1n, "EUR")]) {
      assert.deepEqual(fromPayPalAmount(toPayPalAmount(m)), m);
    }
    assert.deepEqual(fromPayPalAmount({ currency_code: "USD", value: "10" }), money(1000n, "USD"));
    assert.deepEqual(fromPayPalAmount({ currency_code: "HUF", value: "1000.00" }), money(100000n, "HUF"));
  });

  it("refuses answers that are not exact: finer than the unit, signs, exponents, unknown currencies", () => {
    assert.throws(() => fromPayPalAmount({ currency_code: "USD", value: "1.001" }), ConnectorError);
    assert.throws(() => fromPayPalAmount({ currency_code: "JPY", value: "100.5" }), ConnectorError);
    assert.throws(() => fromPayPalAmount({ currency_code: "TWD", value: "10.50" }), ConnectorError);
    assert.throws(() => fromPayPalAmount({ currency_code: "USD", value: "-1.00" }), ConnectorError);
    assert.throws(() => fromPayPalAmount({ currency_code: "USD", value: "1e3" }), ConnectorError);
    assert.throws(() => fromPayPalAmount({ currency_code: "AUD", value: "1.00" }), ConnectorError);
  });
});

const order = (status: string, capture?: { status: string; value?: string; reason?: string }) =>
  PayPalOrderSchema.parse({
    id: "5O190127TN364715T",
    status,
    intent: "CAPTURE",
    purchase_units: [
      {
        reference_id: "default",
        amount: { currency_code: "USD", value: "19.99" },
        custom_id: "pay_123",
        invoice_id: "pay_123",
        ...(capture
          ? {
              payments: {
                captures: [
                  {
                    id: "3C679366HH908993F",
                    status: capture.status,
                    amount: { currency_code: "USD", value: capture.value ?? "19.99" },
                    custom_id: "pay_123",
                    ...(capture.reason ? { status_details: { reason: capture.reason } } : {}),
                  },
                ],
              },
            }
          : {}),
      },
    ],
  });

describe("PayPal statuses", () => {
  it("maps capture statuses, and an unknown one to PENDING", () => {
    assert.equal(captureStatusToPg("COMPLETED"), "PAID");
    assert.equal(captureStatusToPg("PENDING"), "PENDING");
    assert.equal(captureStatusToPg("DECLINED"), "FAILED");
    assert.equal(captureStatusToPg("FAILED"), "FAILED");
    assert.equal(captureStatusToPg("PARTIALLY_REFUNDED"), "PARTIALLY_REFUNDED");
    assert.equal(captureStatusToPg("REFUNDED"), "REFUNDED");
    assert.equal(captureStatusToPg("other"), "PENDING");
  });

  it("keeps an approved but uncaptured order PENDING and a voided one EXPIRED", () => {
    assert.equal(orderStatusToPg("APPROVED"), "PENDING");
    assert.equal(orderStatusToPg("PAYER_ACTION_REQUIRED"), "PENDING");
    assert.equal(orderStatusToPg("VOIDED"), "EXPIRED");
    assert.equal(PayPalOrderSchema.shape.status.parse("SOMETHING_NEW"), "other");
  });

  it("decides a completed order by its capture, with the reference from custom_id", () => {
    const paid = pgPaymentFromOrder(order("COMPLETED", { status: "COMPLETED" }));
    assert.equal(paid.status, "PAID");
    assert.equal(paid.pgTransactionId, "5O190127TN364715T");
    assert.equal(paid.paymentReference, "pay_123");
    assert.deepEqual(paid.amount, money(1999n, "USD"));
    assert.equal(paid.details?.captureId, "3C679366HH908993F");

    const echeck = pgPaymentFromOrder(order("COMPLETED", { status: "PENDING", reason: "ECHECK" }));
    assert.equal(echeck.status, "PENDING");
    assert.equal(echeck.details?.pendingReason, "ECHECK");

    const declined = pgPaymentFromOrder(order("COMPLETED", { status: "DECLINED" }));
    assert.equal(declined.status, "FAILED");
    assert.equal(declined.failure?.code, "CAPTURE_DECLINED");

    assert.equal(pgPaymentFromOrder(order("APPROVED")).status, "PENDING");
    // COMPLETED without a capture does not mean money moved.
    assert.equal(pgPaymentFromOrder(order("COMPLETED")).status, "PENDING");
  });

  it("reports the captured amount, so a capture differing from the order is visible to the core", () => {
    assert.deepEqual(pgPaymentFromOrder(order("COMPLETED", { status: "COMPLETED", value: "1.00" })).amount, money(100n, "USD"));
  });

  it("maps refund statuses to outcomes", () => {
    const refund = (status: string, reason?: string) =>
      refundOutcome(PayPalRefundSchema.parse({ id: "1JU08902781691411", status, ...(reason ? { status_details: { reason } } : {}) }));
    assert.deepEqual(refund("COMPLETED"), { status: "SUCCEEDED", pgRefundId: "1JU08902781691411" });
    assert.deepEqual(refund("PENDING", "ECHECK"), { status: "PENDING", pgRefundId: "1JU08902781691411" });
    assert.deepEqual(refund("FAILED"), { status: "FAILED", pgRefundId: "1JU08902781691411", code: "REFUND_FAILED", message: "PayPal failed the refund" });
    assert.equal(refund("CANCELLED").status, "FAILED");
    assert.equal(refund("NEW_STATUS").status, "PENDING");
  });

  it("finds the approval link under either rel", () => {
    assert.equal(
      approvalLink([
        { href: "s", rel: "self" },
        { href: "https://www.paypal.com/checkoutnow?token=X", rel: "payer-action" },
      ]),
      "https://www.paypal.com/checkoutnow?token=X",
    );
    assert.equal(approvalLink([{ href: "https://www.paypal.com/checkoutnow?token=Y", rel: "approve" }]), "https://www.paypal.com/checkoutnow?token=Y");
    assert.equal(approvalLink([{ href: "s", rel: "self" }]), undefined);
  });
});

const paypalError = (status: number, name: string, issue?: string) => ({
  name,
  message: "m",
  debug_id: "f1a2b3c4d5e6f",
  ...(issue ? { details: [{ issue, description: `${issue} described` }] } : {}),
});

describe("PayPal errors", () => {
  it("classifies a buyer's decline as declined, carrying the issue, message and debug id, and says to send the buyer back", () => {
    const failure = classifyPayPalError(422, paypalError(422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED"), true);
    assert.equal(failure.errorClass, "declined");
    assert.equal(failure.issue, "INSTRUMENT_DECLINED");
    assert.equal(failure.message, "INSTRUMENT_DECLINED described");
    assert.equal(failure.debugId, "f1a2b3c4d5e6f");
    assert.equal(failure.sendBuyerBack, true);
    const error = toConnectorError(failure);
    assert.equal(error.errorClass, "declined");
    assert.equal(error.pgCode, "INSTRUMENT_DECLINED");
    assert.equal(error.httpStatus, 422);
  });

  it("classifies business refusals of captures and refunds as declined", () => {
    for (const issue of [
      "ORDER_NOT_APPROVED",
      "DUPLICATE_INVOICE_ID",
      "REFUND_AMOUNT_EXCEEDED",
      "CAPTURE_FULLY_REFUNDED",
      "PENDING_CAPTURE",
      "TRANSACTION_REFUSED",
    ]) {
      const failure = classifyPayPalError(422, paypalError(422, "UNPROCESSABLE_ENTITY", issue), true);
      assert.equal(failure.errorClass, "declined", issue);
      assert.equal(failure.sendBuyerBack, false, issue);
    }
  });

  it("treats an order already captured as indeterminate: money moved, read the order", () => {
    assert.equal(classifyPayPalError(422, paypalError(422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED"), true).errorClass, "indeterminate");
  });

  it("treats PGB's own mistakes as fatal: refused currency, precision, amount mismatch, malformed request, permissions, unknown resource", () => {
    for (const issue of ["CURRENCY_NOT_SUPPORTED", "DECIMAL_PRECISION", "DECIMALS_NOT_SUPPORTED", "AMOUNT_MISMATCH"]) {
      assert.equal(classifyPayPalError(422, paypalError(422, "UNPROCESSABLE_ENTITY", issue), false).errorClass, "fatal", issue);
    }
    assert.equal(classifyPayPalError(400, paypalError(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER"), true).errorClass, "fatal");
    assert.equal(classifyPayPalError(403, paypalError(403, "NOT_AUTHORIZED", "PERMISSION_DENIED"), true).errorClass, "fatal");
    assert.equal(classifyPayPalError(404, paypalError(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID"), false).issue, "INVALID_RESOURCE_ID");
  });

  it("retries throttling and an expired token, but not bad credentials", () => {
    assert.equal(classifyPayPalError(429, paypalError(429, "RATE_LIMIT_REACHED"), true).errorClass, "retryable");
    const expired = classifyPayPalError(401, { error: "invalid_token", error_description: "The token passed in was expired" }, true);
    assert.equal(expired.errorClass, "retryable");
    assert.equal(expired.issue, "invalid_token");
    assert.equal(classifyPayPalError(401, { error: "invalid_client", error_description: "Client Authentication failed" }, false).errorClass, "fatal");
  });

  it("makes a 5xx indeterminate for a capture or refund and retryable for a read; survives a body that is not PayPal's", () => {
    assert.equal(classifyPayPalError(500, paypalError(500, "INTERNAL_SERVER_ERROR"), true).errorClass, "indeterminate");
    assert.equal(classifyPayPalError(503, paypalError(503, "SERVICE_UNAVAILABLE"), false).errorClass, "retryable");
    const html = classifyPayPalError(502, "<html>bad gateway</html>", true);
    assert.equal(html.errorClass, "indeterminate");
    assert.equal(html.issue, "HTTP_502");
  });
});

describe("PayPal webhook references", () => {
  const event = (event_type: string, resource: Record<string, unknown>) =>
    PayPalWebhookEventSchema.parse({ id: "WH-1", event_type, resource_type: "x", resource });

  it("takes the order id and custom_id from an approved order", () => {
    const e = event("CHECKOUT.ORDER.APPROVED", {
      id: "ORDER1",
      status: "APPROVED",
      purchase_units: [{ custom_id: "pay_1", amount: { currency_code: "USD", value: "1.00" } }],
    });
    assert.deepEqual(eventReferences(e), { orderId: "ORDER1", customId: "pay_1" });
    assert.deepEqual(webhookAction(e), { kind: "payment", eventId: "WH-1", pgTransactionId: "ORDER1", paymentReference: "pay_1" });
  });

  it("takes the order id of a capture from supplementary_data", () => {
    const e = event("PAYMENT.CAPTURE.DENIED", {
      id: "CAP1",
      status: "DECLINED",
      custom_id: "pay_2",
      supplementary_data: { related_ids: { order_id: "ORDER2" } },
    });
    assert.deepEqual(eventReferences(e), { captureId: "CAP1", orderId: "ORDER2", customId: "pay_2" });
    assert.deepEqual(webhookAction(e), { kind: "payment", eventId: "WH-1", pgTransactionId: "ORDER2", paymentReference: "pay_2" });
  });

  it("takes the capture of a refund or reversal from its up link", () => {
    const e = event("PAYMENT.CAPTURE.REVERSED", {
      id: "REF1",
      status: "COMPLETED",
      links: [{ href: "https://api-m.paypal.com/v2/payments/captures/CAP3", rel: "up", method: "GET" }],
    });
    assert.deepEqual(eventReferences(e), { refundId: "REF1", captureId: "CAP3" });
    assert.deepEqual(webhookAction(e), { kind: "refund", eventId: "WH-1", pgRefundId: "REF1" });
  });

  it("ignores events PGB does not act on", () => {
    assert.equal(webhookAction(event("PAYMENT.AUTHORIZATION.CREATED", { id: "A" })).kind, "ignored");
  });
});

describe("PayPal webhook signatures (certificate check)", () => {
  const identity = makeSigningIdentity();
  const webhookId = "8PT597110X687430L";
  const body = Buffer.from(
    JSON.stringify({ id: "WH-1", event_type: "PAYMENT.CAPTURE.COMPLETED", resource: { id: "CAP1", amount: { currency_code: "USD", value: "19.99" } } }),
  );
  const signed = (overrides: Record<string, string> = {}, forWebhook = webhookId, signedBody: Buffer = body) => {
    const id = randomUUID();
    const time = new Date().toISOString();
    return {
      "PAYPAL-TRANSMISSION-ID": id,
      "PAYPAL-TRANSMISSION-TIME": time,
      "PAYPAL-TRANSMISSION-SIG": signMessage(paypalSignedMessage(id, time, forWebhook, signedBody), identity.privateKey),
      "PAYPAL-CERT-URL": "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
      "PAYPAL-AUTH-ALGO": "SHA256withRSA",
      ...overrides,
    };
  };
  const check = (headers: Record<string, string>, raw = body, now = new Date()) => {
    const read = readTransmissionHeaders(headers);
    assert.ok(read.ok, "headers read");
    return verifyPayPalTransmission({ headers: read.value, rawBody: raw, webhookId, certificatePem: identity.certificatePem, now });
  };

  it("accepts a genuine transmission, headers in any case", () => {
    assert.deepEqual(check(signed()), { ok: true });
  });

  it("refuses a changed body, another webhook's signature, another transmission id, a foreign key and another algorithm", () => {
    assert.equal(check(signed(), Buffer.from(body.toString().replace("19.99", "19.98"))).ok, false);
    assert.equal(check(signed({}, "OTHERWEBHOOK00001")).ok, false);
    assert.equal(check({ ...signed(), "PAYPAL-TRANSMISSION-ID": randomUUID() }).ok, false);
    const stranger = makeSigningIdentity();
    const id = randomUUID();
    const time = new Date().toISOString();
    assert.equal(
      check(
        signed({
          "PAYPAL-TRANSMISSION-ID": id,
          "PAYPAL-TRANSMISSION-TIME": time,
          "PAYPAL-TRANSMISSION-SIG": signMessage(paypalSignedMessage(id, time, webhookId, body), stranger.privateKey),
        }),
      ).ok,
      false,
    );
    assert.equal(check(signed({ "PAYPAL-AUTH-ALGO": "SHA1withRSA" })).ok, false);
    assert.equal(check(signed({ "PAYPAL-TRANSMISSION-SIG": "not base64 at all!" })).ok, false);
  });

  it("refuses outside the certificate's validity and a certificate that is not one", () => {
    assert.equal(check(signed(), body, new Date(Date.now() + 20 * 365 * 86_400_000)).ok, false);
    const read = readTransmissionHeaders(signed());
    assert.ok(read.ok);
    assert.equal(verifyPayPalTransmission({ headers: read.value, rawBody: body, webhookId, certificatePem: "<html>", now: new Date() }).ok, false);
  });

  it("says which headers are missing", () => {
    const { "PAYPAL-TRANSMISSION-SIG": _sig, ...rest } = signed();
    const read = readTransmissionHeaders(rest);
    assert.equal(read.ok, false);
    assert.match(read.ok ? "" : read.reason, /paypal-transmission-sig/);
  });

  it("fetches certificates only from PayPal's API hosts over HTTPS, unless told otherwise", () => {
    assert.equal(isAllowedCertUrl("https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"), true);
    assert.equal(isAllowedCertUrl("https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-1"), true);
    assert.equal(isAllowedCertUrl("http://api.paypal.com/v1/notifications/certs/CERT-1"), false);
    assert.equal(isAllowedCertUrl("https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1"), false);
    assert.equal(isAllowedCertUrl("https://evil.example/v1/notifications/certs/CERT-1"), false);
    assert.equal(isAllowedCertUrl("https://api.paypal.com/v1/oauth2/token"), false);
    assert.equal(isAllowedCertUrl("https://user@api.paypal.com/v1/notifications/certs/CERT-1"), false);
    assert.equal(isAllowedCertUrl("not a url"), false);
    assert.equal(isAllowedCertUrl("http://127.0.0.1:4000/v1/notifications/certs/CERT-1", ["http://127.0.0.1:4000"]), true);
  });
});
