/**
 * A checkout the PG captures after PGB closed it (superseded by a newer PayStart, expired, failed):
 * recorded on that attempt, refunded in full at the PG and notified (lateCapture "refund"), or only
 * notified and refunded by the host's FullCancel with its PaymentId (lateCapture "notify"). The order's
 * own balance never includes it.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ConnectorError, type Connector } from "../../src/core/ports/connector.ts";
import { type ConnectorFactory } from "../../src/connectors/factory.ts";
import { testConnector, testPgSettings } from "../../src/connectors/test-pg/index.ts";
import { backends } from "../support/backends.ts";
import { followReturn, openCheckout, pressButton, submitCheckoutForm, waitForOrder } from "../support/checkout.ts";
import { hostPost, payStartBody } from "../support/pgb.ts";
import { eventually, startRig, type DeliveryRig } from "../workers/support.ts";
import { captureAlerts, pgbBooks, pgBooks, pgTransactionOf, type Alert } from "./support.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";

type Attempt = { PaymentId: string; Status: string; TotalPrice: string; CapturedPrice: string; RefundedPrice: string };

async function payStart(rig: DeliveryRig, body: Record<string, unknown>) {
  const started = await hostPost(rig.pgb, "/PGB/PayStart", body);
  assert.equal(started.status, 200, JSON.stringify(started.body));
  return { paymentId: String(started.body.PaymentId), checkoutUrl: String(started.body.RedirectUrl) };
}

/** The customer pays checkout A, but PGB hears of it only after a new PayStart replaced A. */
async function paidAfterSuperseded(rig: DeliveryRig, amounts: [string, string]) {
  const body = payStartBody({ TotalPrice: amounts[0] });
  const orderId = Number(body.OrderId);
  const first = await payStart(rig, body);
  const settings = testPgSettings(rig.pgb.database.db, "DEMO")!;
  settings.webhookDelivery = "drop";
  const returnLocation = await pressButton(first.checkoutUrl, "pay"); // paid at the PG; the webhook is lost, the browser not back yet
  const second = await payStart(rig, { ...body, TotalPrice: amounts[1] });
  settings.webhookDelivery = "send";
  return { orderId, body, first, second, returnLocation };
}

/** The reconciler would find the paid checkout before the test's PayStart replaces it: not in these tests. */
const QUIET_RECONCILER = { reconciler: { paymentAfterMs: 600_000 } };

/** Opens the checkout page; answers a function that presses its Pay button (one POST, as a browser sends it). */
async function openPage(checkoutUrl: string): Promise<() => Promise<string | undefined>> {
  const opened = await openCheckout(checkoutUrl);
  const action = /action="([^"]+\/pay)"/.exec(opened.html)?.[1];
  if (action === undefined) throw new Error(`no Pay button on ${checkoutUrl}`);
  return async () => {
    const response = await submitCheckoutForm(new URL(action, checkoutUrl), "pay", opened);
    // 409: closed at the PG before the customer pressed Pay.
    return response.status === 303 ? (response.headers.get("location") ?? undefined) : undefined;
  };
}

for (const backend of backends()) {
  describe(`late capture on ${backend}`, () => {
    describe('lateCapture "refund" (the default)', () => {
      let rig: DeliveryRig;
      let alerts: Alert[];
      before(async () => {
        rig = await startRig(backend, { workers: QUIET_RECONCILER });
        alerts = captureAlerts(rig.pgb);
      });
      afterEach(() => {
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "send";
      });
      after(async () => rig.close());

      it("refunds in full a superseded checkout the customer paid anyway, tells the host LATE_PAYMENT_REFUNDED, and keeps it out of the order's balance", async () => {
        const { orderId, first, second } = await paidAfterSuperseded(rig, ["10000", "20000"]);
        // The customer also pays the new checkout: the order's real payment.
        await followReturn(rig.pgb, await pressButton(second.checkoutUrl, "pay"));
        // PGB learns of the first capture (here from POST /PGB/Sync; a webhook or the browser does the same).
        const sync = await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId });
        assert.equal(sync.status, 200, JSON.stringify(sync.body));

        const notice = await eventually("LATE_PAYMENT_REFUNDED at the host", async () =>
          rig.host.acceptedFor(orderId).find((n) => n.type === "LATE_PAYMENT_REFUNDED"),
        );
        assert.equal(notice.payload.PaymentId, first.paymentId);
        assert.equal(notice.payload.PGTransactionId, await pgTransactionOf(rig.pgb, first.paymentId));
        assert.equal(notice.payload.CapturedPrice, "10000");
        assert.equal(notice.payload.RefundPrice, "10000");
        assert.equal(notice.payload.Status, "SUPERSEDED");
        assert.equal(notice.payload.PaidPrice, undefined, "the order's amounts are not mixed into a late capture's notification");

        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PAID");
        assert.equal(view.PaymentId, second.paymentId);
        assert.equal(view.PaidPrice, "20000");
        assert.equal(view.CancelledPrice, "0");
        assert.equal(view.RemainingPrice, "20000");
        const attempts = view.Attempts as Attempt[];
        assert.deepEqual(
          attempts.map((a) => [a.PaymentId, a.Status, a.CapturedPrice, a.RefundedPrice]),
          [
            [first.paymentId, "SUPERSEDED", "10000", "10000"],
            [second.paymentId, "PAID", "20000", "0"],
          ],
        );
        assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 30000n, refunded: 10000n });
        assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 30000n, refunded: 10000n });
        assert.ok(alerts.some((a) => a.alert === "LATE_PAYMENT" && a.paymentId === first.paymentId));

        // The host can still cancel the order's real payment, for its own amount only.
        const cancel = await hostPost(rig.pgb, "/PGB/FullCancel", {
          DbType: "DEMO",
          OrderId: orderId,
          PGType: "TEST",
          PayType: "CARD",
          CurrentTotalPrice: 20000,
          JoinerId: 42,
          NationCode: "KR",
        });
        assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
        assert.equal(cancel.body.PaymentId, second.paymentId);
        assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 30000n, refunded: 30000n });
        assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 30000n, refunded: 30000n });
      });

      it("refunds a late capture once however many paths report it at once (the browser coming back, Sync, the reconciler's check)", async () => {
        const { orderId, first, returnLocation } = await paidAfterSuperseded(rig, ["7000", "7500"]);
        const [landing] = await Promise.all([
          followReturn(rig.pgb, returnLocation),
          hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId }),
          hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId }),
          rig.workers.reconciler!.checkSuperseded(brand<PaymentId>(first.paymentId)),
        ]);
        assert.equal(landing.searchParams.get("Result"), "FAILED", "the customer is told this checkout did not become the order's payment");
        await eventually("LATE_PAYMENT_REFUNDED at the host", async () => rig.host.acceptedFor(orderId).find((n) => n.type === "LATE_PAYMENT_REFUNDED"));
        assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 7000n, refunded: 7000n });
        assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 7000n, refunded: 7000n });
        const rows = await rig.pgb.database.db
          .selectFrom("notifications")
          .select("type")
          .where("order_id", "=", orderId)
          .where("type", "=", "LATE_PAYMENT_REFUNDED")
          .execute();
        assert.equal(rows.length, 1, "one notification");
      });

      it(
        "PayStart 10000 while the customer pays and the host re-runs PayStart with 20000, 30 times: every late capture refunded at the PG and notified; PGB's books equal the PG's, order by order",
        { timeout: 240_000 },
        async () => {
          const orders: Array<{ orderId: number; first: string }> = [];
          for (let i = 0; i < 30; i++) {
            const body = payStartBody({ TotalPrice: "10000" });
            const orderId = Number(body.OrderId);
            const first = await payStart(rig, body);
            orders.push({ orderId, first: first.paymentId });
            const pressPay = await openPage(first.checkoutUrl);
            const [, again] = await Promise.all([
              pressPay()
                .then((location) => (location === undefined ? undefined : followReturn(rig.pgb, location)))
                .catch(() => undefined),
              hostPost(rig.pgb, "/PGB/PayStart", { ...body, TotalPrice: "20000" }),
            ]);
            if (again.status === 200) {
              await followReturn(rig.pgb, await pressButton(String(again.body.RedirectUrl), "pay"));
            } else {
              assert.equal(again.body.ErrorCode, "ORDER_ALREADY_PAID", JSON.stringify(again.body));
            }
          }

          let late = 0;
          for (const { orderId } of orders) {
            const view = await waitForOrder(
              rig.pgb,
              orderId,
              (b) => b.Status === "PAID" && (b.Attempts as Attempt[]).every((a) => a.CapturedPrice === a.RefundedPrice || a.Status === "PAID"),
            );
            await eventually(`order ${orderId}: PGB's books equal the PG's`, async () => {
              const [pg, pgb] = [await pgBooks(rig.pgb, orderId), await pgbBooks(rig.pgb, orderId)];
              if (pg.captured === pgb.captured && pg.refunded === pgb.refunded) return true;
              throw new Error(
                `PG ${pg.captured}/${pg.refunded}, PGB ${pgb.captured}/${pgb.refunded}; ${JSON.stringify((await waitForOrder(rig.pgb, orderId, () => true)).History)}`,
              );
            });
            const attempts = view.Attempts as Attempt[];
            const paid = attempts.filter((a) => a.Status === "PAID");
            assert.equal(paid.length, 1, `order ${orderId}: one paid attempt`);
            assert.equal(view.PaidPrice, paid[0]!.TotalPrice, `order ${orderId}: PaidPrice is the paid attempt's only`);
            assert.equal(view.CancelledPrice, "0");
            for (const a of attempts.filter((x) => x.Status !== "PAID" && x.CapturedPrice !== "0")) {
              late++;
              assert.equal(a.RefundedPrice, a.CapturedPrice, `order ${orderId}: late capture ${a.PaymentId} refunded in full`);
              const notice = await eventually(`order ${orderId}: LATE_PAYMENT_REFUNDED`, async () =>
                rig.host.acceptedFor(orderId).find((n) => n.type === "LATE_PAYMENT_REFUNDED" && n.payload.PaymentId === a.PaymentId),
              );
              assert.equal(notice.payload.RefundPrice, a.CapturedPrice);
            }
            const pg = await pgBooks(rig.pgb, orderId);
            assert.equal(pg.captured - pg.refunded, BigInt(paid[0]!.TotalPrice), `order ${orderId}: the customer is charged once`);
          }
          console.log(`late captures in the race: ${late} of ${orders.length} orders`);
          assert.ok(late > 0, "the race produced late captures (on the old code they stayed unrefunded)");
        },
      );
    });

    describe('lateCapture "notify"', () => {
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { workers: QUIET_RECONCILER });
        rig.pgb.deps.config.tenants.DEMO!.lateCapture = "notify";
      });
      after(async () => rig.close());

      it("tells the host LATE_PAYMENT and refunds nothing until the host's FullCancel names that PaymentId", async () => {
        const { orderId, first, second } = await paidAfterSuperseded(rig, ["5000", "6000"]);
        await followReturn(rig.pgb, await pressButton(second.checkoutUrl, "pay"));
        await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId });
        const notice = await eventually("LATE_PAYMENT at the host", async () => rig.host.acceptedFor(orderId).find((n) => n.type === "LATE_PAYMENT"));
        assert.equal(notice.payload.PaymentId, first.paymentId);
        assert.equal(notice.payload.CapturedPrice, "5000");
        assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 11000n, refunded: 0n });

        // Without the PaymentId, FullCancel refunds the order's paid attempt; with it, the late one.
        const cancelLate = await hostPost(rig.pgb, "/PGB/FullCancel", {
          DbType: "DEMO",
          OrderId: orderId,
          PGType: "TEST",
          PayType: "CARD",
          CurrentTotalPrice: 5000,
          JoinerId: 42,
          NationCode: "KR",
          PaymentId: first.paymentId,
        });
        assert.equal(cancelLate.status, 200, JSON.stringify(cancelLate.body));
        assert.equal(cancelLate.body.PaymentId, first.paymentId);
        assert.equal(cancelLate.body.RemainingPrice, "0");
        await eventually("LATE_PAYMENT_REFUNDED at the host", async () =>
          rig.host.acceptedFor(orderId).find((n) => n.type === "LATE_PAYMENT_REFUNDED" && n.payload.PaymentId === first.paymentId),
        );
        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PAID");
        assert.equal(view.PaymentId, second.paymentId);
        assert.equal(view.RemainingPrice, "6000", "the order's balance is untouched");
        assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 11000n, refunded: 5000n });
        assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 11000n, refunded: 5000n });

        // A PaymentId of an attempt with no money, or of another order, is refused.
        const wrong = await hostPost(rig.pgb, "/PGB/FullCancel", {
          DbType: "DEMO",
          OrderId: orderId + 1,
          PGType: "TEST",
          PayType: "CARD",
          CurrentTotalPrice: 5000,
          JoinerId: 42,
          NationCode: "KR",
          PaymentId: first.paymentId,
        });
        assert.notEqual(wrong.status, 200);
      });
    });
  });
}

/**
 * The TEST connector whose refund call never comes back in time, as when the process dies during it:
 * before the PG got it, or after. The call gives up (indeterminate) long after the reconciler took over.
 */
function hangingRefundConnector(state: { fault: "none" | "before-sending" | "after-sending"; refundCalls: number }): ConnectorFactory {
  return {
    ...testConnector,
    create(settings, context) {
      const inner: Connector = testConnector.create(settings as never, context);
      return {
        pg: inner.pg,
        createCheckout: (input) => inner.createCheckout(input),
        parseWebhook: (input) => inner.parseWebhook(input),
        fetchPayment: (ref) => inner.fetchPayment(ref),
        handleReturn: (input) => inner.handleReturn(input),
        expireCheckout: (ref) => inner.expireCheckout(ref),
        lookupRefund: (ref) => inner.lookupRefund!(ref),
        listRefunds: (ref) => inner.listRefunds!(ref),
        refund: async (input) => {
          state.refundCalls++;
          const fault = state.fault;
          state.fault = "none";
          if (fault === "none") return inner.refund(input);
          if (fault === "after-sending") await inner.refund(input);
          await sleep(2_000);
          throw new ConnectorError("indeterminate", "the process running this call died");
        },
      };
    },
  };
}

for (const backend of backends()) {
  describe(`a late capture's refund interrupted mid-call, on ${backend}`, () => {
    const state = { fault: "none" as "none" | "before-sending" | "after-sending", refundCalls: 0 };
    let rig: DeliveryRig;
    before(async () => {
      rig = await startRig(backend, { factories: [hangingRefundConnector(state)], workers: { reconciler: { paymentAfterMs: 600_000, refundAfterMs: 300 } } });
    });
    after(async () => rig.close());

    for (const fault of ["before-sending", "after-sending"] as const) {
      it(`is finished by the reconciler under the same key when the call died ${fault.replace("-", " ")} the PG got it: refunded once, notified once`, async () => {
        const { orderId, first, second } = await paidAfterSuperseded(rig, ["3000", "3500"]);
        state.fault = fault;
        state.refundCalls = 0;
        await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId });
        await eventually("LATE_PAYMENT_REFUNDED at the host", async () => rig.host.acceptedFor(orderId).find((n) => n.type === "LATE_PAYMENT_REFUNDED"));
        await sleep(2_500); // the interrupted call gives up meanwhile; it must change nothing
        assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 3000n, refunded: 3000n });
        assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 3000n, refunded: 3000n });
        const refunds = await rig.pgb.database.db
          .selectFrom("money_movements")
          .selectAll()
          .where("payment_id", "=", first.paymentId)
          .where("kind", "=", "REFUND")
          .execute();
        assert.deepEqual(
          refunds.map((r) => [r.id, r.status]),
          [[`mm_late_${first.paymentId}`, "SUCCEEDED"]],
        );
        assert.equal(rig.host.acceptedFor(orderId).filter((n) => n.type === "LATE_PAYMENT_REFUNDED").length, 1);
        assert.equal(
          state.refundCalls,
          fault === "before-sending" ? 2 : 1,
          fault === "before-sending" ? "sent again by the reconciler" : "looked up, not sent again",
        );
        void second;
      });
    }
  });
}
