/**
 * The Stripe connector driven through the Connector interface, with the official SDK talking to the
 * local Stripe simulator (test/simulators/stripe). No network beyond 127.0.0.1.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import Stripe from "stripe";
import { ConnectorError, type CheckoutInput, type WebhookInput, type PaymentRef, type RefundInput, type RefundRef } from "../../src/core/ports/connector.ts";
import { type ConnectorRouteDeps } from "../../src/connectors/factory.ts";
import {
  chooseTenant,
  createStripeConnector,
  StripeSettingsSchema,
  stripeConnector,
  tenantsVerifying,
  type StripeConnector,
  type StripeSettings,
} from "../../src/connectors/stripe/index.ts";
import type { Money } from "../../src/core/money.ts";
import { systemClock } from "../../src/core/system-clock.ts";
import { StripeSimulator } from "../simulators/stripe/simulator.ts";
import { brand, type PaymentId, type PgTransactionId, type RefundId } from "../../src/core/ids.ts";

const TENANT = "shop";
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;

/** A stand-in for PGB's webhook route: keeps each delivery's headers and exact bytes. */
async function startWebhookReceiver(): Promise<{ url: string; received: WebhookInput[]; close(): Promise<void> }> {
  const received: WebhookInput[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, rawBody: Buffer.concat(chunks) });
      response.writeHead(200, { "content-type": "application/json" }).end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/PGBReturn/WebHook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function connectorFor(sim: StripeSimulator, overrides: Record<string, unknown> = {}): StripeConnector {
  const settings = StripeSettingsSchema.parse({
    secretKey: sim.secretKey,
    webhookSecret: WEBHOOK_SECRET,
    apiBase: sim.url,
    timeout: 3000,
    maxNetworkRetries: 2,
    ...overrides,
  });
  return createStripeConnector(settings, TENANT, systemClock);
}

function checkoutInput(amount: Money, overrides: Partial<CheckoutInput> = {}): CheckoutInput {
  const paymentId = `pay_${randomUUID()}`;
  return {
    paymentId: brand<PaymentId>(paymentId),
    tenant: TENANT,
    orderId: 1001,
    joinerId: 7,
    amount,
    payType: "CARD",
    nationCode: amount.currency === "KRW" ? "KR" : "US",
    description: "Order 1001",
    returnUrl: `http://127.0.0.1:9/PGB/Return/${paymentId}`,
    webhookUrl: `http://127.0.0.1:9/PGB/Webhook/${TENANT}/STRIPE`,
    expiresAt: new Date(Date.now() + 2 * 3600_000),
    idempotencyKey: `paystart-${paymentId}`,
    ...overrides,
  };
}

const KRW_10000: Money = { minor: 10000n, currency: "KRW" };
const USD_19_99: Money = { minor: 1999n, currency: "USD" };

async function rejectsWith(promise: Promise<unknown>, errorClass: ConnectorError["errorClass"], pgCode?: string): Promise<ConnectorError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConnectorError, `expected a ConnectorError, got ${String(caught)}`);
  assert.equal(caught.errorClass, errorClass, caught.message);
  if (pgCode !== undefined) assert.equal(caught.pgCode, pgCode);
  return caught;
}

describe("Stripe connector against the Stripe simulator", () => {
  let sim: StripeSimulator;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let connector: StripeConnector;

  before(async () => {
    sim = await StripeSimulator.start();
    receiver = await startWebhookReceiver();
    sim.setWebhookEndpoint(receiver.url, WEBHOOK_SECRET);
    connector = connectorFor(sim);
  });

  after(async () => {
    await sim.close();
    await receiver.close();
  });

  async function paidSession(amount: Money = KRW_10000): Promise<{ input: CheckoutInput; sessionId: string }> {
    const input = checkoutInput(amount);
    const created = await connector.createCheckout(input);
    sim.pay(created.pgTransactionId);
    return { input, sessionId: created.pgTransactionId };
  }

  /** The webhook deliveries the receiver got for `type`, newest last. */
  async function deliveriesOf(type: string, sessionOrObjectId?: string): Promise<WebhookInput[]> {
    await sim.waitForWebhooks();
    return receiver.received.filter((delivery) => {
      const body = JSON.parse(delivery.rawBody.toString("utf8")) as { type: string; data: { object: { id: string } } };
      return body.type === type && (sessionOrObjectId === undefined || body.data.object.id === sessionOrObjectId);
    });
  }

  describe("checkout", () => {
    it("creates a KRW session whose unit amount is the whole number of won and whose metadata names the payment", async () => {
      const input = checkoutInput(KRW_10000);
      const created = await connector.createCheckout(input);
      const session = sim.sessions.get(created.pgTransactionId);
      assert.ok(session, "the simulator holds the session");
      assert.equal(session.amount_total, 10000);
      assert.equal(session.currency, "krw");
      assert.equal(session.mode, "payment");
      assert.equal(session.client_reference_id, input.paymentId);
      assert.deepEqual(session.metadata, { pgb_payment_id: input.paymentId, tenant: TENANT, order_id: "1001" });
      assert.equal(session.success_url, `${input.returnUrl}?session_id={CHECKOUT_SESSION_ID}`);
      assert.equal(session.cancel_url, `${input.returnUrl}?cancelled=1`);
      assert.equal(session.expires_at, Math.floor(input.expiresAt.getTime() / 1000));
      assert.equal(created.checkoutUrl, `${sim.url}/pay/${created.pgTransactionId}`);
      assert.match(created.pgTransactionId, /^cs_test_/);
    });

    it("creates a USD session in cents", async () => {
      const created = await connector.createCheckout(checkoutInput(USD_19_99));
      const session = sim.sessions.get(created.pgTransactionId);
      assert.equal(session?.amount_total, 1999);
      assert.equal(session?.currency, "usd");
    });

    it("answers the same session when PayStart is retried with the same idempotency key", async () => {
      const input = checkoutInput(KRW_10000);
      const first = await connector.createCheckout(input);
      const again = await connector.createCheckout(input);
      assert.equal(again.pgTransactionId, first.pgTransactionId);
      assert.equal([...sim.sessions.values()].filter((session) => session.client_reference_id === input.paymentId).length, 1);
    });

    it("clamps a checkout lifetime shorter than Stripe's 30 minute minimum instead of failing PayStart", async () => {
      const input = checkoutInput(KRW_10000, { expiresAt: new Date(Date.now() + 5 * 60_000) });
      const created = await connector.createCheckout(input);
      const session = sim.sessions.get(created.pgTransactionId)!;
      assert.ok(session.expires_at >= sim.now() + 30 * 60);
    });
  });

  describe("payment status", () => {
    it("reads a paid KRW session back as PAID with the amount, currency and payment id PGB asked for", async () => {
      const { input, sessionId } = await paidSession(KRW_10000);
      const payment = await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId });
      assert.equal(payment.status, "PAID");
      assert.deepEqual(payment.amount, KRW_10000);
      assert.equal(payment.paymentReference, input.paymentId);
      assert.equal(payment.pgTransactionId, sessionId);
      assert.match(String(payment.details?.paymentIntentId), /^pi_/);
    });

    it("reads a paid USD session back as PAID with 19.99 USD", async () => {
      const { input, sessionId } = await paidSession(USD_19_99);
      const payment = await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId });
      assert.equal(payment.status, "PAID");
      assert.deepEqual(payment.amount, USD_19_99);
    });

    it("reads an open session as PENDING", async () => {
      const input = checkoutInput(KRW_10000);
      const created = await connector.createCheckout(input);
      const payment = await connector.fetchPayment({ pgTransactionId: created.pgTransactionId, paymentReference: input.paymentId });
      assert.equal(payment.status, "PENDING");
    });

    it("handles the browser's return with the session id Stripe substituted into the success URL", async () => {
      const input = checkoutInput(KRW_10000);
      const created = await connector.createCheckout(input);
      const { redirectUrl } = sim.pay(created.pgTransactionId);
      const query = Object.fromEntries(new URL(redirectUrl).searchParams);
      assert.equal(query.session_id, created.pgTransactionId);
      const payment = await connector.handleReturn({ pgTransactionId: null, paymentReference: input.paymentId, amount: KRW_10000, query });
      assert.equal(payment.status, "PAID");
      assert.equal(payment.paymentReference, input.paymentId);
    });

    it("trusts PGB's stored session id over the one in the browser's query", async () => {
      const paid = await paidSession();
      const other = await connector.createCheckout(checkoutInput(KRW_10000));
      const payment = await connector.handleReturn({
        pgTransactionId: other.pgTransactionId,
        paymentReference: brand<PaymentId>("x"),
        amount: KRW_10000,
        query: { session_id: paid.sessionId },
      });
      assert.equal(payment.pgTransactionId, other.pgTransactionId);
      assert.equal(payment.status, "PENDING");
    });

    it("reads a customer's cancel on the checkout page as still PENDING, since the session stays payable", async () => {
      const input = checkoutInput(KRW_10000);
      const created = await connector.createCheckout(input);
      const payment = await connector.handleReturn({
        pgTransactionId: created.pgTransactionId,
        paymentReference: input.paymentId,
        amount: KRW_10000,
        query: { cancelled: "1" },
      });
      assert.equal(payment.status, "PENDING");
    });

    it("keeps a delayed payment PENDING until Stripe reports it succeeded, then PAID", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      sim.pay(pgTransactionId, { delayed: true });
      assert.equal((await connector.fetchPayment({ pgTransactionId, paymentReference: input.paymentId })).status, "PENDING");
      sim.completeDelayed(pgTransactionId, true);
      const payment = await connector.fetchPayment({ pgTransactionId, paymentReference: input.paymentId });
      assert.equal(payment.status, "PAID");
      assert.deepEqual(payment.amount, KRW_10000);
    });

    it("reads a delayed payment that failed as FAILED with Stripe's decline reason", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      sim.pay(pgTransactionId, { delayed: true });
      sim.completeDelayed(pgTransactionId, false);
      const payment = await connector.fetchPayment({ pgTransactionId, paymentReference: input.paymentId });
      assert.equal(payment.status, "FAILED");
      assert.equal(payment.failure?.code, "insufficient_funds");
    });

    it("reads a session that passed its expiry as EXPIRED", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      sim.expire(pgTransactionId);
      assert.equal((await connector.fetchPayment({ pgTransactionId, paymentReference: input.paymentId })).status, "EXPIRED");
    });

    it("declines a fetch of a session Stripe does not know, keeping Stripe's code", async () => {
      await rejectsWith(
        connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>("cs_test_unknown"), paymentReference: brand<PaymentId>("x") }),
        "declined",
        "resource_missing",
      );
    });
  });

  describe("expiring a checkout", () => {
    it("expires an open session at Stripe, and a second expire is harmless", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      await connector.expireCheckout({ pgTransactionId, paymentReference: input.paymentId });
      assert.equal(sim.sessions.get(pgTransactionId)?.status, "expired");
      assert.equal(sim.sessions.get(pgTransactionId)?.url, null);
      await connector.expireCheckout({ pgTransactionId, paymentReference: input.paymentId });
      assert.equal((await connector.fetchPayment({ pgTransactionId, paymentReference: input.paymentId })).status, "EXPIRED");
    });

    it("treats a session that expired on its own as already expired", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      sim.expire(pgTransactionId);
      await connector.expireCheckout({ pgTransactionId, paymentReference: input.paymentId });
    });

    it("refuses to expire a session the customer already paid, so the core learns it was paid", async () => {
      const { input, sessionId } = await paidSession();
      await rejectsWith(
        connector.expireCheckout({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId }),
        "declined",
        "checkout_session_complete",
      );
    });
  });

  describe("refunds", () => {
    it("refunds part and then the rest, and the payment reads PARTIALLY_REFUNDED then REFUNDED", async () => {
      const { input, sessionId } = await paidSession(KRW_10000);
      const ref: PaymentRef = { pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId };
      const first = await connector.refund({
        ...ref,
        amount: { minor: 3000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "one item returned",
      });
      assert.equal(first.status, "SUCCEEDED");
      assert.equal((await connector.fetchPayment(ref)).status, "PARTIALLY_REFUNDED");
      const second = await connector.refund({
        ...ref,
        amount: { minor: 7000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "order cancelled",
      });
      assert.equal(second.status, "SUCCEEDED");
      assert.notEqual(first.status === "SUCCEEDED" && first.pgRefundId, second.status === "SUCCEEDED" && second.pgRefundId);
      assert.equal((await connector.fetchPayment(ref)).status, "REFUNDED");
      const refunds = [...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_payment_id === input.paymentId);
      assert.deepEqual(
        refunds.map((refund) => refund.amount).sort((a, b) => a - b),
        [3000, 7000],
      );
      assert.equal(refunds[0]?.reason, "requested_by_customer");
    });

    it("refunds cents for a USD payment", async () => {
      const { input, sessionId } = await paidSession(USD_19_99);
      const outcome = await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 999n, currency: "USD" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "partial",
      });
      assert.equal(outcome.status, "SUCCEEDED");
      assert.equal(outcome.status === "SUCCEEDED" ? sim.refunds.get(outcome.pgRefundId)?.amount : undefined, 999);
    });

    it("never refunds twice when a refund is resent with the same idempotency key", async () => {
      const { input, sessionId } = await paidSession();
      const request: RefundInput = {
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 3000n, currency: "KRW" as const },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "dup test",
      };
      const first = await connector.refund(request);
      const again = await connector.refund(request);
      assert.deepEqual(again, first);
      const payment = await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId });
      assert.equal(payment.details?.amountRefunded, 3000);
    });

    it("uses the PaymentIntent id from the payment's details without re-reading the session", async () => {
      const { input, sessionId } = await paidSession();
      const payment = await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId });
      const before = sim.requests.length;
      await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 100n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "r",
        details: payment.details,
      });
      assert.deepEqual(
        sim.requests.slice(before).map((request) => `${request.method} ${request.path}`),
        ["POST /v1/refunds"],
      );
    });

    it("reports a refund Stripe fails as FAILED with Stripe's failure reason, leaving the payment PAID", async () => {
      const { input, sessionId } = await paidSession();
      sim.failNextRefund("expired_or_canceled_card");
      const outcome = await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 5000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "r",
      });
      assert.equal(outcome.status, "FAILED");
      assert.equal(outcome.status === "FAILED" ? outcome.code : undefined, "expired_or_canceled_card");
      assert.equal((await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId })).status, "PAID");
    });

    it("reports a pending refund as PENDING and its later failure through refund webhooks and fetchRefund", async () => {
      const { input, sessionId } = await paidSession();
      sim.pendNextRefund();
      const outcome = await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 4000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "r",
      });
      assert.equal(outcome.status, "PENDING");
      const pgRefundId = outcome.status === "PENDING" ? outcome.pgRefundId : "";
      const lookup: RefundRef = {
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        idempotencyKey: brand<RefundId>("unused"),
        pgRefundId,
        amount: { minor: 4000n, currency: "KRW" as const },
      };
      assert.equal((await connector.lookupRefund(lookup)).status, "PENDING");
      // Stripe counts a pending refund against the charge.
      assert.equal(
        (await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId })).status,
        "PARTIALLY_REFUNDED",
      );

      sim.settleRefund(pgRefundId, false);
      const failed = await connector.lookupRefund(lookup);
      assert.equal(failed.status, "FAILED");
      assert.equal((await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId })).status, "PAID");
      const [failedEvent] = await deliveriesOf("refund.failed", pgRefundId);
      assert.ok(failedEvent, "refund.failed was delivered");
      assert.deepEqual(await connector.parseWebhook(failedEvent), {
        kind: "refund",
        eventId: (JSON.parse(failedEvent.rawBody.toString("utf8")) as { id: string }).id,
        paymentReference: input.paymentId,
        pgRefundId,
      });
    });

    it("reports a pending refund that later succeeds as SUCCEEDED", async () => {
      const { input, sessionId } = await paidSession();
      sim.pendNextRefund();
      const outcome = await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 4000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "r",
      });
      const pgRefundId = outcome.status === "PENDING" ? outcome.pgRefundId : "";
      sim.settleRefund(pgRefundId, true);
      const lookup: RefundRef = {
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        idempotencyKey: brand<RefundId>("unused"),
        pgRefundId,
        amount: { minor: 4000n, currency: "KRW" as const },
      };
      assert.deepEqual(await connector.lookupRefund(lookup), { status: "SUCCEEDED", pgRefundId });
      const [updated] = await deliveriesOf("refund.updated", pgRefundId);
      assert.equal((await connector.parseWebhook(updated!)).kind, "refund");
    });

    it("looks up a refund whose answer was lost by PGB's key, finding the one Stripe made without refunding again", async () => {
      const { input, sessionId } = await paidSession();
      const impatient = connectorFor(sim, { maxNetworkRetries: 0, timeout: 200 });
      const key = `refund-${randomUUID()}`;
      const request: RefundInput = {
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 2000n, currency: "KRW" as const },
        idempotencyKey: brand<RefundId>(key),
        reason: "r",
      };
      sim.delayNext(600, 1, "POST /v1/refunds");
      await rejectsWith(impatient.refund(request), "indeterminate");
      const before = sim.requests.length;
      const found = await connector.lookupRefund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        idempotencyKey: brand<RefundId>(key),
        amount: request.amount,
      });
      assert.equal(found.status, "SUCCEEDED");
      const made = [...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_refund_id === key);
      assert.equal(made.length, 1);
      assert.equal(found.status === "SUCCEEDED" ? found.pgRefundId : undefined, made[0]?.id);
      assert.ok(!sim.requests.slice(before).some((r) => r.method === "POST"), "the lookup only read");
    });

    it("re-sends, with the same key, a refund Stripe never received, when the lookup finds none", async () => {
      const { input, sessionId } = await paidSession();
      const key = `refund-${randomUUID()}`;
      const amount = { minor: 1500n, currency: "KRW" as const };
      sim.failNext(3, 503, { on: "POST /v1/refunds" });
      await rejectsWith(
        connector.refund({
          pgTransactionId: brand<PgTransactionId>(sessionId),
          paymentReference: input.paymentId,
          amount,
          idempotencyKey: brand<RefundId>(key),
          reason: "r",
        }),
        "retryable",
      );
      assert.equal([...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_refund_id === key).length, 0);
      const outcome = await connector.lookupRefund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        idempotencyKey: brand<RefundId>(key),
        amount,
      });
      assert.equal(outcome.status, "SUCCEEDED");
      assert.equal(
        (
          await connector.lookupRefund({
            pgTransactionId: brand<PgTransactionId>(sessionId),
            paymentReference: input.paymentId,
            idempotencyKey: brand<RefundId>(key),
            amount,
          })
        ).status,
        "SUCCEEDED",
      );
      assert.equal([...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_refund_id === key).length, 1);
    });

    it("finds the refund PGB asks about among many refunds of the same payment", async () => {
      const { input, sessionId } = await paidSession();
      const keys = Array.from({ length: 12 }, () => `refund-${randomUUID()}`);
      for (const key of keys)
        await connector.refund({
          pgTransactionId: brand<PgTransactionId>(sessionId),
          paymentReference: input.paymentId,
          amount: { minor: 100n, currency: "KRW" },
          idempotencyKey: brand<RefundId>(key),
          reason: "r",
        });
      const outcome = await connector.lookupRefund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        idempotencyKey: brand<RefundId>(keys[0]!),
        amount: { minor: 100n, currency: "KRW" },
      });
      assert.equal(outcome.status, "SUCCEEDED");
      assert.equal([...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_payment_id === input.paymentId).length, 12);
    });

    it("answers NOT_FOUND for a refund of a session nobody paid, since Stripe cannot have refunded it", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      assert.deepEqual(
        await connector.lookupRefund({ pgTransactionId, paymentReference: input.paymentId, idempotencyKey: brand<RefundId>("k"), amount: KRW_10000 }),
        { status: "NOT_FOUND" },
      );
    });

    it("declines a refund larger than what is left, keeping Stripe's code", async () => {
      const { input, sessionId } = await paidSession();
      await rejectsWith(
        connector.refund({
          pgTransactionId: brand<PgTransactionId>(sessionId),
          paymentReference: input.paymentId,
          amount: { minor: 10001n, currency: "KRW" },
          idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
          reason: "r",
        }),
        "declined",
        "amount_too_large",
      );
    });

    it("declines a refund of a session nobody paid", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      await rejectsWith(
        connector.refund({
          pgTransactionId,
          paymentReference: input.paymentId,
          amount: KRW_10000,
          idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
          reason: "r",
        }),
        "declined",
        "payment_intent_missing",
      );
    });
  });

  describe("Stripe failures", () => {
    it("lets the SDK retry two 500 answers with the same idempotency key and creates exactly one session", async () => {
      const input = checkoutInput(KRW_10000);
      sim.failNext(2, 500);
      const before = sim.requests.length;
      const created = await connector.createCheckout(input);
      const attempts = sim.requests.slice(before);
      assert.deepEqual(
        attempts.map((request) => request.status),
        [500, 500, 200],
      );
      assert.ok(
        attempts.every((request) => request.idempotencyKey === input.idempotencyKey),
        "every attempt carried PGB's key",
      );
      assert.equal([...sim.sessions.values()].filter((session) => session.client_reference_id === input.paymentId).length, 1);
      assert.ok(sim.sessions.has(created.pgTransactionId));
    });

    it("reports a rate-limited refund as retryable, and resending it with the same key refunds once", async () => {
      const { input, sessionId } = await paidSession();
      const key = `refund-${randomUUID()}`;
      const request: RefundInput = {
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 1000n, currency: "KRW" as const },
        idempotencyKey: brand<RefundId>(key),
        reason: "r",
      };
      sim.failNext(1, 429);
      await rejectsWith(connector.refund(request), "retryable", "rate_limit");
      assert.equal((await connector.refund(request)).status, "SUCCEEDED");
      assert.equal((await connector.refund(request)).status, "SUCCEEDED");
      assert.equal([...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_refund_id === key).length, 1);
    });

    it("lets the SDK retry a 429 lock time-out that Stripe marks as safe to retry, and the refund happens once", async () => {
      const { input, sessionId } = await paidSession();
      const key = `refund-${randomUUID()}`;
      sim.failNext(1, 429, { code: "lock_timeout", shouldRetry: true });
      const outcome = await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 1000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(key),
        reason: "r",
      });
      assert.equal(outcome.status, "SUCCEEDED");
      assert.equal([...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_refund_id === key).length, 1);
    });

    it("reports a Stripe that keeps answering 500 as retryable", async () => {
      const impatient = connectorFor(sim, { maxNetworkRetries: 1 });
      sim.failNext(2, 500);
      await rejectsWith(impatient.createCheckout(checkoutInput(KRW_10000)), "retryable");
    });

    it("reports a Stripe that keeps answering 429 as retryable", async () => {
      const impatient = connectorFor(sim, { maxNetworkRetries: 0 });
      sim.failNext(1, 429);
      await rejectsWith(
        impatient.fetchPayment({ pgTransactionId: brand<PgTransactionId>("cs_test_whatever"), paymentReference: brand<PaymentId>("x") }),
        "retryable",
        "rate_limit",
      );
    });

    it("reports a refund whose answer timed out as indeterminate, and a retry with the same key finds the one refund Stripe made", async () => {
      const { input, sessionId } = await paidSession();
      const impatient = connectorFor(sim, { maxNetworkRetries: 0, timeout: 200 });
      const request: RefundInput = {
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 2500n, currency: "KRW" as const },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "r",
      };
      const payment = await connector.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId });
      sim.delayNext(600);
      await rejectsWith(impatient.refund({ ...request, details: payment.details }), "indeterminate");
      // Stripe did act: the reconciler's (or a resent cancel's) retry with the same key must not refund again.
      const settled = await connector.refund(request);
      assert.equal(settled.status, "SUCCEEDED");
      assert.equal([...sim.refunds.values()].filter((refund) => refund.metadata?.pgb_refund_id === request.idempotencyKey).length, 1);
      assert.equal(sim.requests.at(-1)?.replayed, true);
    });

    it("lets the SDK retry a timed-out checkout with the same key and ends with one session", async () => {
      const input = checkoutInput(KRW_10000);
      const patient = connectorFor(sim, { maxNetworkRetries: 2, timeout: 200 });
      sim.delayNext(600);
      const created = await patient.createCheckout(input);
      assert.equal([...sim.sessions.values()].filter((session) => session.client_reference_id === input.paymentId).length, 1);
      assert.ok(sim.sessions.has(created.pgTransactionId));
    });

    it("reports a read that timed out as retryable, since reading changes nothing", async () => {
      const { input, sessionId } = await paidSession();
      const impatient = connectorFor(sim, { maxNetworkRetries: 0, timeout: 200 });
      sim.delayNext(600);
      await rejectsWith(
        impatient.fetchPayment({ pgTransactionId: brand<PgTransactionId>(sessionId), paymentReference: input.paymentId }),
        "retryable",
        "connection_error",
      );
    });

    it("reports a checkout POST to a Stripe nobody listens on as retryable, since nothing was sent", async () => {
      const closed = await StripeSimulator.start();
      const url = closed.url;
      await closed.close();
      const unreachable = createStripeConnector(
        StripeSettingsSchema.parse({ secretKey: sim.secretKey, webhookSecret: WEBHOOK_SECRET, apiBase: url, maxNetworkRetries: 0 }),
        TENANT,
        systemClock,
      );
      await rejectsWith(unreachable.createCheckout(checkoutInput(KRW_10000)), "retryable", "connection_error");
    });

    it("reports a wrong secret key as fatal without the key in the message", async () => {
      const wrongKey = "sk_test_ThisKeyIsWrong0123456789";
      const misconfigured = connectorFor(sim, { secretKey: wrongKey });
      const error = await rejectsWith(misconfigured.createCheckout(checkoutInput(KRW_10000)), "fatal");
      assert.equal(error.httpStatus, 401);
      assert.ok(!error.message.includes(wrongKey), error.message);
      assert.ok(!error.message.includes("0123456789"), error.message);
    });

    it("reports a reused idempotency key with other parameters as fatal, since it is a bug in PGB's keys", async () => {
      const input = checkoutInput(KRW_10000);
      await connector.createCheckout(input);
      await rejectsWith(connector.createCheckout({ ...input, amount: { minor: 20000n, currency: "KRW" } }), "fatal", "idempotency_error");
    });
  });

  describe("webhooks", () => {
    it("turns a delivered checkout.session.completed into a payment action naming the session and payment", async () => {
      const { input, sessionId } = await paidSession();
      const [delivery] = await deliveriesOf("checkout.session.completed", sessionId);
      assert.ok(delivery, "checkout.session.completed was delivered");
      const action = await connector.parseWebhook(delivery);
      const eventId = (JSON.parse(delivery.rawBody.toString("utf8")) as { id: string }).id;
      assert.deepEqual(action, { kind: "payment", eventId, pgTransactionId: sessionId, paymentReference: input.paymentId });
    });

    it("turns async success, async failure and expiry events into payment actions", async () => {
      const succeeded = await connector.createCheckout(checkoutInput(KRW_10000));
      sim.pay(succeeded.pgTransactionId, { delayed: true });
      sim.completeDelayed(succeeded.pgTransactionId, true);
      const failed = await connector.createCheckout(checkoutInput(KRW_10000));
      sim.pay(failed.pgTransactionId, { delayed: true });
      sim.completeDelayed(failed.pgTransactionId, false);
      const expired = await connector.createCheckout(checkoutInput(KRW_10000));
      await connector.expireCheckout({ pgTransactionId: expired.pgTransactionId, paymentReference: brand<PaymentId>("") });
      for (const [type, sessionId] of [
        ["checkout.session.async_payment_succeeded", succeeded.pgTransactionId],
        ["checkout.session.async_payment_failed", failed.pgTransactionId],
        ["checkout.session.expired", expired.pgTransactionId],
      ] as const) {
        const [delivery] = await deliveriesOf(type, sessionId);
        assert.ok(delivery, `${type} was delivered`);
        const action = await connector.parseWebhook(delivery);
        assert.equal(action.kind, "payment", type);
        assert.equal(action.kind === "payment" ? action.pgTransactionId : undefined, sessionId);
      }
    });

    it("turns charge.refunded into a refund action naming PGB's payment", async () => {
      const { input, sessionId } = await paidSession();
      await connector.refund({
        pgTransactionId: brand<PgTransactionId>(sessionId),
        paymentReference: input.paymentId,
        amount: { minor: 1000n, currency: "KRW" },
        idempotencyKey: brand<RefundId>(`refund-${randomUUID()}`),
        reason: "r",
      });
      await sim.waitForWebhooks();
      const chargeId = [...sim.charges.values()].find((charge) => charge.metadata.pgb_payment_id === input.paymentId)?.id;
      const [delivery] = await deliveriesOf("charge.refunded", chargeId);
      assert.ok(delivery, "charge.refunded was delivered");
      const action = await connector.parseWebhook(delivery);
      assert.equal(action.kind, "refund");
      assert.equal(action.kind === "refund" ? action.paymentReference : undefined, input.paymentId);
    });

    it("ignores genuine events PGB does not act on", async () => {
      const { sessionId } = await paidSession();
      const intentId = sim.sessions.get(sessionId)?.payment_intent;
      const [delivery] = await deliveriesOf("payment_intent.succeeded", intentId ?? undefined);
      assert.ok(delivery);
      assert.equal((await connector.parseWebhook(delivery)).kind, "ignored");
    });

    it("hands over each copy of a duplicated delivery with the same event id, for the core to deduplicate", async () => {
      const input = checkoutInput(KRW_10000);
      const { pgTransactionId } = await connector.createCheckout(input);
      sim.dropNextWebhook(); // charge.succeeded
      sim.dropNextWebhook(); // payment_intent.succeeded
      sim.duplicateNextWebhook(); // checkout.session.completed
      sim.pay(pgTransactionId);
      const copies = await deliveriesOf("checkout.session.completed", pgTransactionId);
      assert.equal(copies.length, 2);
      const actions = await Promise.all(copies.map((copy) => connector.parseWebhook(copy)));
      assert.deepEqual(actions[0], actions[1]);
      assert.equal(sim.deliveries.filter((delivery) => delivery.outcome === "dropped").length >= 2, true);
    });

    it("rejects a webhook without a Stripe-Signature header", async () => {
      const { sessionId } = await paidSession();
      const [delivery] = await deliveriesOf("checkout.session.completed", sessionId);
      const action = await connector.parseWebhook({ headers: { "content-type": "application/json" }, rawBody: delivery!.rawBody });
      assert.equal(action.kind, "rejected");
    });

    it("rejects a webhook forged with another signing secret", async () => {
      const { sessionId } = await paidSession();
      const event = sim.eventsOfType("checkout.session.completed").find((candidate) => candidate.data.object.id === sessionId)!;
      const forged = sim.signedDelivery(event.id, { secret: `whsec_${randomBytes(24).toString("base64")}` });
      assert.equal((await connector.parseWebhook(forged)).kind, "rejected");
    });

    it("rejects a genuine webhook whose body was tampered with after signing", async () => {
      const { sessionId } = await paidSession();
      const [delivery] = await deliveriesOf("checkout.session.completed", sessionId);
      const tampered = Buffer.from(delivery!.rawBody.toString("utf8").replace('"payment_status": "paid"', '"payment_status": "unpaid"'), "utf8");
      assert.notDeepEqual(tampered, delivery!.rawBody);
      assert.equal((await connector.parseWebhook({ headers: delivery!.headers, rawBody: tampered })).kind, "rejected");
    });

    it("rejects a genuine webhook replayed after Stripe's 300 second tolerance", async () => {
      const { sessionId } = await paidSession();
      const event = sim.eventsOfType("checkout.session.completed").find((candidate) => candidate.data.object.id === sessionId)!;
      const stale = sim.signedDelivery(event.id, { timestamp: Math.floor(Date.now() / 1000) - 301 });
      const action = await connector.parseWebhook(stale);
      assert.equal(action.kind, "rejected");
      assert.match(action.kind === "rejected" ? action.reason : "", /tolerance|timestamp/i);
      // The same event signed now is accepted: only the age was wrong.
      assert.equal((await connector.parseWebhook(sim.signedDelivery(event.id))).kind, "payment");
    });

    it("rejects a correctly signed body that is not a Stripe event, without throwing", async () => {
      const body = "not json at all";
      const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET });
      assert.equal((await connector.parseWebhook({ headers: { "stripe-signature": header }, rawBody: Buffer.from(body) })).kind, "rejected");
      const notAnEvent = JSON.stringify({ id: "x", object: "charge" });
      const header2 = Stripe.webhooks.generateTestHeaderString({ payload: notAnEvent, secret: WEBHOOK_SECRET });
      assert.equal((await connector.parseWebhook({ headers: { "Stripe-Signature": header2 }, rawBody: Buffer.from(notAnEvent) })).kind, "rejected");
    });

    it("has every delivery the simulator sent verify with the SDK's own constructEvent", async () => {
      await paidSession();
      await sim.waitForWebhooks();
      assert.ok(receiver.received.length > 0);
      for (const delivery of receiver.received) {
        const event = Stripe.webhooks.constructEvent(delivery.rawBody, String(delivery.headers["stripe-signature"]), WEBHOOK_SECRET);
        assert.match(event.id, /^evt_/);
      }
    });
  });

  describe("legacy webhook path /PGBReturn/WebHook", () => {
    const otherSecret = `whsec_${randomBytes(24).toString("base64")}`;
    let routeSim: StripeSimulator;
    let app: FastifyInstance;
    const accepted: Array<{ tenant: string; input: WebhookInput }> = [];

    before(async () => {
      routeSim = await StripeSimulator.start();
      const settings = (webhookSecret: string): StripeSettings =>
        StripeSettingsSchema.parse({ secretKey: routeSim.secretKey, webhookSecret, apiBase: routeSim.url });
      const deps: ConnectorRouteDeps<StripeSettings> = {
        storage: {
          forTables: () => {
            throw new Error("Stripe keeps no tables");
          },
        },
        logger: pino({ level: "silent" }),
        publicUrl: "http://127.0.0.1",
        clock: systemClock,
        tenantsWithSettings: () => [
          { tenant: "other", settings: settings(otherSecret) },
          { tenant: TENANT, settings: settings(WEBHOOK_SECRET) },
        ],
        acceptWebhook: async (tenant, input) => {
          accepted.push({ tenant, input });
          return { status: 200, body: { received: true } };
        },
      };
      app = Fastify();
      app.post("/json-elsewhere", async (request) => ({ echoed: request.body }));
      await stripeConnector.registerRoutes!(app, deps);
      await app.listen({ port: 0, host: "127.0.0.1" });
      const { port } = app.server.address() as AddressInfo;
      routeSim.setWebhookEndpoint(`http://127.0.0.1:${port}/PGBReturn/WebHook`, WEBHOOK_SECRET, ["checkout.session.completed"]);
    });

    after(async () => {
      await routeSim.close();
      await app.close();
    });

    it("hands a delivery to the tenant whose signing secret verifies it, with the exact raw bytes", async () => {
      const stripe = createStripeConnector(
        StripeSettingsSchema.parse({ secretKey: routeSim.secretKey, webhookSecret: WEBHOOK_SECRET, apiBase: routeSim.url }),
        TENANT,
        systemClock,
      );
      const { pgTransactionId } = await stripe.createCheckout(checkoutInput(KRW_10000));
      routeSim.pay(pgTransactionId);
      await routeSim.waitForWebhooks();
      const delivery = routeSim.deliveries.find((candidate) => candidate.type === "checkout.session.completed");
      assert.equal(delivery?.outcome, 200);
      assert.equal(accepted.length, 1);
      assert.equal(accepted[0]?.tenant, TENANT);
      assert.equal(accepted[0]?.input.rawBody.toString("utf8"), delivery?.body);
      assert.equal((await stripe.parseWebhook(accepted[0]!.input)).kind, "payment");
    });

    it("answers 400 to a delivery no tenant's secret verifies, and to one without a signature", async () => {
      const body = JSON.stringify({ id: "evt_x", object: "event", type: "checkout.session.completed", data: { object: {} } });
      const forged = await app.inject({
        method: "POST",
        url: "/PGBReturn/WebHook",
        headers: {
          "content-type": "application/json",
          "stripe-signature": Stripe.webhooks.generateTestHeaderString({ payload: body, secret: `whsec_${randomBytes(24).toString("base64")}` }),
        },
        payload: body,
      });
      assert.equal(forged.statusCode, 400);
      const unsigned = await app.inject({ method: "POST", url: "/PGBReturn/WebHook", headers: { "content-type": "application/json" }, payload: body });
      assert.equal(unsigned.statusCode, 400);
      assert.equal(accepted.filter((entry) => entry.input.rawBody.toString("utf8") === body).length, 0);
    });

    it("picks, among tenants sharing one signing secret, the tenant the event's metadata names", () => {
      const shared = (tenant: string) => ({ tenant, settings: StripeSettingsSchema.parse({ secretKey: "sk_test_abc", webhookSecret: WEBHOOK_SECRET }) });
      const body = JSON.stringify({
        id: "evt_1",
        object: "event",
        type: "checkout.session.completed",
        data: { object: { id: "cs_1", metadata: { tenant: "second" } } },
      });
      const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET });
      const verified = tenantsVerifying(
        [
          shared("first"),
          shared("second"),
          { tenant: "third", settings: StripeSettingsSchema.parse({ secretKey: "sk_test_abc", webhookSecret: otherSecret }) },
        ],
        Buffer.from(body),
        header,
      );
      assert.deepEqual(
        verified.map((entry) => entry.tenant),
        ["first", "second"],
      );
      assert.equal(chooseTenant(verified), "second");
      assert.equal(chooseTenant(verified.slice(0, 1)), "first");
      assert.equal(chooseTenant([]), undefined);
    });

    it("keeps the raw-body parser to its own route, so the app's other JSON routes still parse JSON", async () => {
      const answer = await app.inject({ method: "POST", url: "/json-elsewhere", headers: { "content-type": "application/json" }, payload: '{"a":1}' });
      assert.deepEqual(answer.json(), { echoed: { a: 1 } });
    });
  });

  describe("factory", () => {
    it("declares the STRIPE pg id and validates its per-tenant settings", () => {
      assert.equal(stripeConnector.pg, "STRIPE");
      assert.equal(stripeConnector.settingsSchema.safeParse({ secretKey: "pk_test_nope", webhookSecret: WEBHOOK_SECRET }).success, false);
      assert.equal(stripeConnector.settingsSchema.safeParse({ secretKey: "sk_test_abc", webhookSecret: "nope" }).success, false);
      assert.equal(
        stripeConnector.settingsSchema.safeParse({ secretKey: "sk_test_abc", webhookSecret: WEBHOOK_SECRET, apiBase: "http://127.0.0.1:1/v1" }).success,
        false,
      );
      const parsed = stripeConnector.settingsSchema.parse({ secretKey: "sk_test_abc", webhookSecret: WEBHOOK_SECRET });
      assert.equal(JSON.stringify(parsed).includes("sk_test_abc"), false, "secrets stay redacted in JSON");
    });
  });
});
