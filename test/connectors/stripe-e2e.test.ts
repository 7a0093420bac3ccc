/**
 * End to end through PGB's host API with a tenant routed to STRIPE and the Stripe simulator standing
 * in for api.stripe.com and checkout.stripe.com: PayStart → Stripe's hosted page → webhooks on the
 * spec's /PGBReturn/WebHook and/or the browser return → host notifications → cancels. The official
 * SDK makes every call; only the address differs.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { stripeConnector } from "../../src/connectors/stripe/index.ts";
import { testConnector } from "../../src/connectors/test-pg/index.ts";
import { backends } from "../support/backends.ts";
import { followReturn as followPgbReturn, notificationsOf, waitForOrder } from "../support/checkout.ts";
import { demoTenant, HOST_ORIGIN, hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { StripeSimulator } from "../simulators/stripe/simulator.ts";

const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;

function tenants(sim: StripeSimulator): Record<string, unknown> {
  return {
    DEMO: demoTenant({
      routes: [
        { nationCode: "KR", payType: "*", pg: "STRIPE" },
        { nationCode: "US", payType: "*", pg: "STRIPE" },
      ],
      pgs: { STRIPE: { secretKey: sim.secretKey, webhookSecret: WEBHOOK_SECRET, apiBase: sim.url, timeout: 1_000, maxNetworkRetries: 2 } },
    }),
  };
}

function partial(orderId: number, current: string, refund: string, modified: string, nationCode = "KR") {
  return {
    DBType: "DEMO",
    OrderId: orderId,
    RefundPrice: refund,
    CurrentTotalPrice: current,
    ModifedTotalPrice: modified,
    JoinerId: 42,
    NationCode: nationCode,
  };
}

function full(orderId: number, current: number, nationCode = "KR") {
  return { DbType: "DEMO", OrderId: orderId, PGType: "STRIPE", PayType: "CARD", CurrentTotalPrice: current, JoinerId: 42, NationCode: nationCode };
}

for (const backend of backends()) {
  describe(`Stripe end to end on ${backend}`, () => {
    let sim: StripeSimulator;
    let pgb: TestPgb;

    before(async () => {
      sim = await StripeSimulator.start();
      pgb = await startPgb(backend, { tenants: tenants(sim), factories: [testConnector, stripeConnector] });
      // The spec's path, as configured in Stripe's dashboard; PGB finds the tenant by signing secret.
      sim.setWebhookEndpoint(`${pgb.url}/PGBReturn/WebHook`, WEBHOOK_SECRET);
    });
    after(async () => {
      await sim.close();
      await pgb.close();
    });

    async function payStart(overrides: Record<string, unknown>): Promise<{ orderId: number; paymentId: string; redirectUrl: string; sessionId: string }> {
      const body = payStartBody({ NationCode: "KR", PayType: "CARD", ...overrides });
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.equal(started.body.Type, "STRIPE");
      const redirectUrl = String(started.body.RedirectUrl);
      const sessionId = new URL(redirectUrl).pathname.split("/").pop()!;
      return { orderId: Number(body.OrderId), paymentId: String(started.body.PaymentId), redirectUrl, sessionId };
    }

    /** Presses a button on Stripe's hosted page as a browser without JavaScript would. */
    async function pressOnStripe(redirectUrl: string, action: "pay" | "pay_delayed" | "cancel"): Promise<string> {
      const page = await fetch(redirectUrl);
      assert.equal(page.status, 200);
      assert.ok((await page.text()).includes(`value="${action}"`));
      const pressed = await fetch(redirectUrl, { method: "POST", body: new URLSearchParams({ action }), redirect: "manual" });
      assert.equal(pressed.status, 303);
      return pressed.headers.get("location")!;
    }

    const followReturn = (location: string): Promise<URL> => followPgbReturn(pgb, location);

    const notifications = (orderId: number) => notificationsOf(pgb, orderId);

    async function paidByWebhook(total: string, nationCode = "KR"): Promise<{ orderId: number; paymentId: string; sessionId: string }> {
      const started = await payStart({ TotalPrice: total, NationCode: nationCode });
      sim.pay(started.sessionId);
      await sim.waitForWebhooks();
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      return started;
    }

    it("creates a Stripe Checkout Session for a KRW PayStart and completes the order from checkout.session.completed alone", async () => {
      const started = await payStart({ TotalPrice: "15000", OrderDescription: "티셔츠" });
      assert.equal(started.redirectUrl, `${sim.url}/pay/${started.sessionId}`);
      const session = sim.sessions.get(started.sessionId)!;
      assert.equal(session.amount_total, 15000);
      assert.equal(session.currency, "krw");
      assert.equal(session.client_reference_id, started.paymentId);
      assert.deepEqual(session.metadata, { pgb_payment_id: started.paymentId, tenant: "DEMO", order_id: String(started.orderId) });
      assert.equal(session.success_url, `${pgb.url}/PGBReturn/stripe/return/${started.paymentId}?session_id={CHECKOUT_SESSION_ID}`);

      sim.pay(started.sessionId);
      await sim.waitForWebhooks();
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.equal(view.PaidPrice, "15000");
      assert.equal(view.Currency, "KRW");
      const sent = await notifications(started.orderId);
      assert.deepEqual(
        sent.map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
      assert.equal(sent[0]!.payload.PGType, "STRIPE");
      assert.equal(sent[0]!.payload.PGTransactionId, started.sessionId);
      const completed = sim.deliveries.find((d) => d.type === "checkout.session.completed" && d.body.includes(started.sessionId));
      assert.equal(completed?.outcome, 200);
    });

    it("completes a USD payment once when the browser return races the webhook", async () => {
      const started = await payStart({ TotalPrice: "19.99", NationCode: "US" });
      assert.equal(sim.sessions.get(started.sessionId)?.amount_total, 1999);
      const location = await pressOnStripe(started.redirectUrl, "pay");
      assert.equal(new URL(location).searchParams.get("session_id"), started.sessionId);
      const landing = await followReturn(location);
      assert.equal(landing.origin + landing.pathname, `${HOST_ORIGIN}/order/complete`);
      assert.equal(landing.searchParams.get("Result"), "PAID");
      await sim.waitForWebhooks();
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.equal(view.PaidPrice, "19.99");
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
        "webhook and browser together notify once",
      );
    });

    it("completes an order by browser return alone when Stripe's webhooks are lost", async () => {
      const started = await payStart({ TotalPrice: "5000" });
      for (let i = 0; i < 3; i++) sim.dropNextWebhook();
      const landing = await followReturn(await pressOnStripe(started.redirectUrl, "pay"));
      assert.equal(landing.searchParams.get("Result"), "PAID");
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
    });

    it("counts a duplicated webhook once", async () => {
      const started = await payStart({ TotalPrice: "6000" });
      sim.dropNextWebhook(); // charge.succeeded
      sim.dropNextWebhook(); // payment_intent.succeeded
      sim.duplicateNextWebhook(); // checkout.session.completed, twice
      sim.pay(started.sessionId);
      await sim.waitForWebhooks();
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
    });

    it("keeps a delayed payment pending and completes it when Stripe reports async_payment_succeeded", async () => {
      const started = await payStart({ TotalPrice: "8000" });
      const landing = await followReturn(await pressOnStripe(started.redirectUrl, "pay_delayed"));
      assert.equal(landing.searchParams.get("Result"), "PENDING");
      await sim.waitForWebhooks();
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "READY");
      sim.completeDelayed(started.sessionId, true);
      await sim.waitForWebhooks();
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
    });

    it("fails a delayed payment Stripe reports failed, with Stripe's reason, and tells the host", async () => {
      const started = await payStart({ TotalPrice: "8000" });
      sim.pay(started.sessionId, { delayed: true });
      sim.completeDelayed(started.sessionId, false);
      await sim.waitForWebhooks();
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "FAILED");
      assert.equal(view.FailureCode, "insufficient_funds");
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_FAILED"],
      );
    });

    it("expires the order when Stripe expires the session", async () => {
      const started = await payStart({ TotalPrice: "3000" });
      sim.expire(started.sessionId);
      await sim.waitForWebhooks();
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "EXPIRED");
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_EXPIRED"],
      );
    });

    it("expires the superseded checkout at Stripe when the host starts the order again", async () => {
      const first = await payStart({ TotalPrice: "4000" });
      // Another amount: a new attempt, not a replay of the first PayStart.
      const again = await hostPost(pgb, "/PGB/PayStart", payStartBody({ OrderId: first.orderId, NationCode: "KR", TotalPrice: "4500" }));
      assert.equal(again.status, 200, JSON.stringify(again.body));
      for (let i = 0; i < 100 && sim.sessions.get(first.sessionId)?.status !== "expired"; i++) await sleep(20);
      assert.equal(sim.sessions.get(first.sessionId)?.status, "expired");
      assert.ok(
        sim.requests.some(
          (request) => request.path === `/v1/checkout/sessions/${first.sessionId}/expire` && request.idempotencyKey === `pgb-expire-${first.sessionId}`,
        ),
      );
    });

    it("refunds part and then all of a KRW payment at Stripe, moving the order to PARTIALLY_CANCELLED then CANCELLED", async () => {
      const { orderId, sessionId } = await paidByWebhook("15000");
      const first = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.RemainingPrice, "10000");
      await waitForOrder(pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
      const second = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 10000));
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.RefundPrice, "10000");
      await waitForOrder(pgb, orderId, (b) => b.Status === "CANCELLED");
      const intentId = sim.sessions.get(sessionId)!.payment_intent!;
      const refunds = [...sim.refunds.values()].filter((refund) => refund.payment_intent === intentId);
      assert.deepEqual(
        refunds.map((refund) => refund.amount),
        [5000, 10000],
      );
      const charge = sim.charges.get(sim.paymentIntents.get(intentId)!.latest_charge!)!;
      assert.equal(charge.amount_refunded, 15000);
      await sim.waitForWebhooks();
      assert.deepEqual(
        (await notifications(orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_CANCELLED"],
      );
    });

    it("refunds cents of a USD payment", async () => {
      const { orderId, sessionId } = await paidByWebhook("19.99", "US");
      const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "19.99", "5.01", "14.98", "US"));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const intentId = sim.sessions.get(sessionId)!.payment_intent!;
      assert.deepEqual(
        [...sim.refunds.values()].filter((refund) => refund.payment_intent === intentId).map((refund) => refund.amount),
        [501],
      );
    });

    it("answers PG_DECLINED and keeps the balance when Stripe fails the refund", async () => {
      const { orderId } = await paidByWebhook("12000");
      sim.failNextRefund("expired_or_canceled_card");
      const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "12000", "2000", "10000"));
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.ErrorCode, "PG_DECLINED");
      assert.match(String(r.body.ErrorMessage), /expired_or_canceled_card/);
      const view = await waitForOrder(pgb, orderId, (b) => b.Status === "PAID");
      assert.equal(view.RemainingPrice, "12000");
      // The balance is intact, so the same cancel can be tried again and now succeeds.
      const retry = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "12000", "2000", "10000"));
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
    });

    it("settles a refund Stripe leaves pending from Stripe's refund webhook, and releases the balance of one Stripe fails later", async () => {
      const { orderId } = await paidByWebhook("10000");
      sim.pendNextRefund();
      const pending = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "3000", "7000"));
      assert.equal(pending.status, 200, JSON.stringify(pending.body));
      assert.equal(pending.body.RefundStatus, "PENDING");
      // Reserved while pending: the balance the host must quote is already 7000.
      assert.equal((await waitForOrder(pgb, orderId, () => true)).RemainingPrice, "7000");
      sim.settleRefund([...sim.refunds.keys()].at(-1)!, true);
      await sim.waitForWebhooks();
      const done = await waitForOrder(pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
      assert.equal(done.RemainingPrice, "7000");
      assert.deepEqual(
        (await notifications(orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED"],
      );

      sim.pendNextRefund();
      assert.equal((await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "7000", "2000", "5000"))).status, 200);
      sim.settleRefund([...sim.refunds.keys()].at(-1)!, false);
      await sim.waitForWebhooks();
      const released = await waitForOrder(
        pgb,
        orderId,
        (b) => b.RemainingPrice === "7000" && (b.Refunds as Array<{ Status: string }>).some((r) => r.Status === "FAILED"),
      );
      assert.equal(released.Status, "PARTIALLY_CANCELLED");
    });

    it("a refund Stripe moves from succeeded to failed: refund FAILED, balance restored, REFUND_FAILED to the host", async () => {
      const { orderId } = await paidByWebhook("15000");
      const cancel = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      await waitForOrder(pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
      sim.failSucceededRefund([...sim.refunds.keys()].at(-1)!, "expired_or_canceled_card");
      await sim.waitForWebhooks();
      const view = await waitForOrder(pgb, orderId, (b) => b.Status === "PAID");
      assert.equal(view.RemainingPrice, "15000");
      assert.equal((view.Refunds as Array<{ RefundId: string; Status: string }>).find((r) => r.RefundId === cancel.body.RefundId)?.Status, "FAILED");
      const sent = await notifications(orderId);
      assert.deepEqual(
        sent.map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "REFUND_FAILED"],
        "refund.updated, refund.failed and charge.refund.updated: one notification",
      );
      assert.equal(sent[2]!.payload.RefundId, cancel.body.RefundId);
      assert.equal(sent[2]!.payload.RefundPrice, "5000");
      assert.equal(sent[2]!.payload.PGCode, "expired_or_canceled_card");
    });

    it("a refund made in Stripe's dashboard: recorded once from charge.refunded, the balance follows, the host is told", async () => {
      const { orderId, sessionId, paymentId } = await paidByWebhook("12000");
      const refund = sim.dashboardRefund(sessionId, 4000);
      await sim.waitForWebhooks();
      const view = await waitForOrder(pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
      assert.equal(view.RemainingPrice, "8000");
      const told = (await notifications(orderId)).find((n) => n.type === "PAYMENT_PARTIALLY_CANCELLED");
      assert.equal(told?.payload.RefundOrigin, "PG");
      assert.equal(told?.payload.RefundPrice, "4000");
      // Stripe resends the event; PGB's own later refund lists the dashboard one too: still counted once.
      const event = sim.events.find((e) => e.type === "charge.refunded" && (e.data.object as { id: string }).id === refund.charge)!;
      await sim.resendEvent(event.id);
      const rest = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 8000));
      assert.equal(rest.status, 200, JSON.stringify(rest.body));
      await sim.waitForWebhooks();
      const rows = await pgb.database.db.selectFrom("money_movements").selectAll().where("payment_id", "=", paymentId).where("kind", "=", "REFUND").execute();
      assert.deepEqual(rows.map((r) => [String(r.amount), r.status]).sort(), [
        ["4000", "SUCCEEDED"],
        ["8000", "SUCCEEDED"],
      ]);
      assert.equal((await waitForOrder(pgb, orderId, (b) => b.Status === "CANCELLED")).RemainingPrice, "0");
    });

    it("refunds and reports a payment Stripe completes on a session PGB had expired (superseded)", async () => {
      const first = await payStart({ TotalPrice: "4000" });
      const again = await hostPost(pgb, "/PGB/PayStart", payStartBody({ OrderId: first.orderId, NationCode: "KR", TotalPrice: "4500" }));
      assert.equal(again.status, 200, JSON.stringify(again.body));
      for (let i = 0; i < 100 && sim.sessions.get(first.sessionId)?.status !== "expired"; i++) await sleep(20);
      sim.payAfterExpiry(first.sessionId);
      await sim.waitForWebhooks();
      const intentId = sim.sessions.get(first.sessionId)!.payment_intent!;
      for (let i = 0; i < 100 && ![...sim.refunds.values()].some((r) => r.payment_intent === intentId); i++) await sleep(20);
      const refunds = [...sim.refunds.values()].filter((r) => r.payment_intent === intentId);
      assert.deepEqual(
        refunds.map((r) => [r.amount, r.status]),
        [[4000, "succeeded"]],
      );
      assert.equal(refunds[0]!.metadata?.pgb_refund_id, `mm_late_${first.paymentId}`, "the idempotency key derives from the attempt");
      await sim.waitForWebhooks();
      const late = (await notifications(first.orderId)).filter((n) => n.type === "LATE_PAYMENT_REFUNDED");
      assert.equal(late.length, 1);
      assert.equal(late[0]!.payload.PaymentId, first.paymentId);
      assert.equal(late[0]!.payload.PGTransactionId, first.sessionId);
      assert.equal(late[0]!.payload.CapturedPrice, "4000");
      const view = await waitForOrder(pgb, first.orderId, () => true);
      assert.equal(view.Status, "READY", "the order's own checkout is untouched");
      assert.equal(view.PaidPrice, "0");
    });

    it("retries Stripe's 500 answers on PayStart with the same idempotency key and creates one session", async () => {
      const before = sim.sessions.size;
      sim.failNext(2, 500, { on: "POST /v1/checkout/sessions" });
      const started = await payStart({ TotalPrice: "9000" });
      assert.equal(sim.sessions.size, before + 1);
      const attempts = sim.requests.filter((request) => request.path === "/v1/checkout/sessions" && request.idempotencyKey === started.paymentId);
      assert.deepEqual(
        attempts.map((request) => request.status),
        [500, 500, 200],
      );
    });

    it("answers PG_UNAVAILABLE when Stripe keeps answering 429, and the retried cancel refunds once", async () => {
      const { orderId, sessionId } = await paidByWebhook("7000");
      sim.failNext(1, 429, { on: "POST /v1/refunds" });
      const limited = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "7000", "1000", "6000"));
      assert.equal(limited.status, 503, JSON.stringify(limited.body));
      assert.equal(limited.body.ErrorCode, "PG_UNAVAILABLE");
      const retry = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "7000", "1000", "6000"));
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      const intentId = sim.sessions.get(sessionId)!.payment_intent!;
      assert.equal([...sim.refunds.values()].filter((refund) => refund.payment_intent === intentId).length, 1);
    });

    it("answers PG_RESULT_UNKNOWN when Stripe's answer to a refund times out, and holds further cancels until it is settled", async () => {
      const { orderId, sessionId } = await paidByWebhook("11000");
      // Every attempt (the SDK's retries included) is answered after PGB's 1 s time-out.
      sim.delayNext(1_500, 3, "POST /v1/refunds");
      const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "11000", "1000", "10000"));
      assert.equal(r.status, 502, JSON.stringify(r.body));
      assert.equal(r.body.ErrorCode, "PG_RESULT_UNKNOWN");
      const intentId = sim.sessions.get(sessionId)!.payment_intent!;
      assert.equal([...sim.refunds.values()].filter((refund) => refund.payment_intent === intentId).length, 1, "Stripe refunded once despite the retries");
      const held = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "11000", "1000", "10000"));
      assert.equal(held.body.ErrorCode, "CANCEL_IN_PROGRESS");
      await sleep(1_600); // let the simulator's delayed answers drain before the next test
    });

    it("rejects forged, replayed and tampered webhooks on both webhook paths, and an unknown tenant's signature on the spec's path", async () => {
      const started = await payStart({ TotalPrice: "2000" });
      sim.dropNextWebhook();
      sim.expire(started.sessionId);
      const event = sim.eventsOfType("checkout.session.expired").find((candidate) => candidate.data.object.id === started.sessionId)!;
      const tenantPath = `${pgb.url}/PGBReturn/stripe/webhook/DEMO`;
      const legacyPath = `${pgb.url}/PGBReturn/WebHook`;
      const post = (url: string, delivery: { headers: Record<string, string>; rawBody: Buffer }) =>
        fetch(url, { method: "POST", headers: delivery.headers, body: new Uint8Array(delivery.rawBody) }).then((response) => response.status);

      const forged = sim.signedDelivery(event.id, { secret: `whsec_${randomBytes(24).toString("base64")}` });
      const stale = sim.signedDelivery(event.id, { timestamp: Math.floor(Date.now() / 1000) - 600 });
      const genuine = sim.signedDelivery(event.id);
      const tampered = {
        headers: genuine.headers,
        rawBody: Buffer.from(genuine.rawBody.toString("utf8").replace('"status": "expired"', '"status": "complete"')),
      };
      const unsigned = { headers: { "content-type": "application/json" }, rawBody: genuine.rawBody };
      for (const url of [tenantPath, legacyPath]) {
        assert.equal(await post(url, forged), 400, `forged on ${url}`);
        assert.equal(await post(url, stale), 400, `replayed on ${url}`);
        assert.equal(await post(url, tampered), 400, `tampered on ${url}`);
        assert.equal(await post(url, unsigned), 400, `unsigned on ${url}`);
      }
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "READY");
      // The genuine delivery is accepted and acted on.
      assert.equal(await post(tenantPath, genuine), 200);
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "EXPIRED");
      const rejected = await pgb.database.db.selectFrom("pg_webhooks").select("status").where("pg", "=", "STRIPE").where("status", "=", "REJECTED").execute();
      assert.ok(rejected.length >= 4);
    });

    it("refuses to complete a payment whose Stripe session amount differs from PGB's record", async () => {
      const started = await payStart({ TotalPrice: "30000" });
      // Someone changed the amount at Stripe's side (or a bug sent another amount): Stripe now says 300.
      const session = sim.sessions.get(started.sessionId)!;
      session.amount_total = 300;
      session.amount_subtotal = 300;
      sim.pay(started.sessionId);
      await sim.waitForWebhooks();
      const landing = await followReturn(`${pgb.url}/PGBReturn/stripe/return/${started.paymentId}?session_id=${started.sessionId}`);
      assert.equal(landing.searchParams.get("Result"), "PENDING");
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "READY");
      assert.equal(view.Status, "READY");
      const events = await pgb.database.db.selectFrom("payment_events").select("event").where("payment_id", "=", started.paymentId).execute();
      assert.ok(
        events.some((row) => row.event === "PG_MISMATCH"),
        "the mismatch is on the payment's timeline",
      );
      assert.deepEqual(await notifications(started.orderId), []);
    });

    it("verifies every delivery it sent with the SDK's constructEvent", () => {
      const sent = sim.deliveries.filter((delivery) => delivery.outcome !== "dropped");
      assert.ok(sent.length > 0);
      for (const delivery of sent) assert.ok(Stripe.webhooks.constructEvent(delivery.body, delivery.signature, WEBHOOK_SECRET).id.startsWith("evt_"));
    });
  });
}
