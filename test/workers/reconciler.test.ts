import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { testPgSettings } from "../../src/connectors/test-pg/index.ts";
import { ConnectorError } from "../../src/core/ports/connector.ts";
import { backends } from "../support/backends.ts";
import { Faults, faultyTestConnector } from "../support/faulty-connector.ts";
import { paidOrder, pressButton, waitForOrder } from "../support/checkout.ts";
import { hostPost, payStartBody, type TestPgb } from "../support/pgb.ts";
import { testPgLedger } from "../support/test-pg-ledger.ts";
import { eventually, refundFaultConnector, startRig, type DeliveryRig, type RefundFault } from "./support.ts";

function full(orderId: number, current: number) {
  return { DbType: "DEMO", OrderId: orderId, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: current, JoinerId: 42, NationCode: "KR" };
}

async function startCheckout(pgb: TestPgb, overrides: Record<string, unknown> = {}) {
  const body = payStartBody(overrides);
  const started = await hostPost(pgb, "/PGB/PayStart", body);
  assert.equal(started.status, 200, JSON.stringify(started.body));
  return { orderId: Number(body.OrderId), paymentId: String(started.body.PaymentId), checkoutUrl: String(started.body.RedirectUrl) };
}

type History = Array<{ To: string; Event: string; Source: string }>;

for (const backend of backends()) {
  describe(`reconciler on ${backend}`, () => {
    describe("on its timer", () => {
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend);
      });
      afterEach(() => {
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "send";
      });
      after(async () => rig.close());

      it("completes a payment whose webhook the PG lost and whose customer never came back, and notifies the host", async () => {
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "drop";
        const { orderId, checkoutUrl } = await startCheckout(rig.pgb, { TotalPrice: "12000" });
        await pressButton(checkoutUrl, "pay"); // and the browser never follows the redirect back

        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PAID");
        const paid = (view.History as History).find((h) => h.To === "PAID");
        assert.equal(paid?.Source, "RECONCILER");
        const notified = await eventually("PAYMENT_COMPLETED at the host", async () =>
          rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_COMPLETED"),
        );
        assert.equal(notified.payload.PaidPrice, "12000");
        const webhooks = await rig.pgb.database.db.selectFrom("pg_webhooks").select("id").where("body", "like", `%${view.PGTransactionId}%`).execute();
        assert.equal(webhooks.length, 0, "no webhook ever arrived");
      });

      it("expires a checkout past its expiry that the PG still calls open, at the PG too, and tells the host PAYMENT_EXPIRED", async () => {
        // The TEST PG's own webhook for the expiry would race the reconciler's transition: only the reconciler decides here.
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "drop";
        const { orderId, paymentId, checkoutUrl } = await startCheckout(rig.pgb, { TotalPrice: "8000" });
        // PGB's clock says the checkout is over; the TEST PG would still take the payment.
        await rig.pgb.database.db
          .updateTable("payments")
          .set({ expires_at: new Date(Date.now() - 60_000) })
          .where("id", "=", paymentId)
          .execute();

        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "EXPIRED");
        assert.equal((view.History as History).find((h) => h.To === "EXPIRED")?.Source, "RECONCILER");
        assert.equal((await testPgLedger(rig.pgb.database.db).payment(paymentId))?.status, "EXPIRED", "expired at the PG, so the customer can no longer pay");
        await assert.rejects(pressButton(checkoutUrl, "pay"), /no pay button/);
        const notified = await eventually("PAYMENT_EXPIRED at the host", async () => rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_EXPIRED"));
        assert.equal(notified.payload.Status, "EXPIRED");
      });

      it("leaves a checkout that is still within its expiry and unpaid alone", async () => {
        const { orderId, paymentId } = await startCheckout(rig.pgb, { TotalPrice: "8100" });
        await eventually("checked at least twice", async () => {
          const check = await rig.pgb.database.db
            .selectFrom("reconcile_checks" as never)
            .select("checks" as never)
            .where("subject" as never, "=", paymentId as never)
            .executeTakeFirst();
          return ((check as { checks?: number } | undefined)?.checks ?? 0) >= 2;
        });
        const view = await waitForOrder(rig.pgb, orderId, () => true);
        assert.equal(view.Status, "READY");
        assert.equal(rig.host.acceptedFor(orderId).length, 0);
      });
    });

    describe("with a PG whose refund calls time out", () => {
      const state: { fault: RefundFault; refundCalls: number } = { fault: "none", refundCalls: 0 };
      let withLookup: DeliveryRig;
      let withoutLookup: DeliveryRig;
      const refundState2: { fault: RefundFault; refundCalls: number } = { fault: "none", refundCalls: 0 };
      before(async () => {
        withLookup = await startRig(backend, { factories: [refundFaultConnector(state, { withLookup: true })] });
        withoutLookup = await startRig(backend, { factories: [refundFaultConnector(refundState2, { withLookup: false })] });
      });
      after(async () => {
        await withLookup.close();
        await withoutLookup.close();
      });

      it("settles a refund left UNKNOWN that the PG did carry out: CANCELLED, notified, refunded exactly once", async () => {
        const { orderId, paymentId } = await paidOrder(withLookup.pgb, { TotalPrice: "5000" });
        state.fault = "timeout-after-sending";
        state.refundCalls = 0;
        const cancel = await hostPost(withLookup.pgb, "/PGB/FullCancel", full(orderId, 5000));
        assert.equal(cancel.status, 502);
        assert.equal(cancel.body.ErrorCode, "PG_RESULT_UNKNOWN");

        const view = await waitForOrder(withLookup.pgb, orderId, (b) => b.Status === "CANCELLED");
        assert.equal((view.History as History).find((h) => h.Event === "REFUNDED")?.Source, "RECONCILER");
        assert.equal(state.refundCalls, 1, "asked the PG about the refund, did not send it again");
        assert.equal(await testPgLedger(withLookup.pgb.database.db).refunded(paymentId), 5000n);
        await eventually("PAYMENT_CANCELLED at the host", async () => withLookup.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_CANCELLED"));
      });

      it("marks a refund FAILED when the PG never received it, and the host can cancel again", async () => {
        const { orderId, paymentId } = await paidOrder(withLookup.pgb, { TotalPrice: "6000" });
        state.fault = "timeout-before-sending";
        const cancel = await hostPost(withLookup.pgb, "/PGB/FullCancel", full(orderId, 6000));
        assert.equal(cancel.body.ErrorCode, "PG_RESULT_UNKNOWN");
        const view = await waitForOrder(withLookup.pgb, orderId, (b) => (b.Refunds as Array<{ Status: string }>).some((r) => r.Status === "FAILED"));
        assert.equal(view.Status, "PAID");
        assert.equal(view.RemainingPrice, "6000", "the reservation is released");
        assert.equal(await testPgLedger(withLookup.pgb.database.db).refunded(paymentId), 0n);
        // The host had been told the outcome would follow: it is told the refund failed.
        const failed = await eventually("REFUND_FAILED at the host", async () => withLookup.host.acceptedFor(orderId).find((r) => r.type === "REFUND_FAILED"));
        const refundId = (view.Refunds as Array<{ RefundId: string; Status: string }>).find((r) => r.Status === "FAILED")!.RefundId;
        assert.equal(failed.payload.RefundId, refundId);
        assert.equal(failed.payload.RefundPrice, "6000");
        assert.equal(failed.payload.PGCode, "NOT_RECEIVED");
        assert.equal(failed.payload.RemainingPrice, "6000");
        assert.equal(failed.payload.PaymentId, paymentId);

        const again = await hostPost(withLookup.pgb, "/PGB/FullCancel", full(orderId, 6000));
        assert.equal(again.status, 200, JSON.stringify(again.body));
        assert.equal(await testPgLedger(withLookup.pgb.database.db).refunded(paymentId), 6000n);
      });

      it("re-sends the refund under the same idempotency key when the connector cannot look refunds up, refunding exactly once", async () => {
        for (const fault of ["timeout-after-sending", "timeout-before-sending"] as const) {
          const { orderId, paymentId } = await paidOrder(withoutLookup.pgb, { TotalPrice: "7000" });
          refundState2.fault = fault;
          refundState2.refundCalls = 0;
          const cancel = await hostPost(withoutLookup.pgb, "/PGB/FullCancel", full(orderId, 7000));
          assert.equal(cancel.body.ErrorCode, "PG_RESULT_UNKNOWN");
          await waitForOrder(withoutLookup.pgb, orderId, (b) => b.Status === "CANCELLED");
          assert.equal(refundState2.refundCalls, 2, `${fault}: the original call and one re-send`);
          assert.equal(await testPgLedger(withoutLookup.pgb.database.db).refunded(paymentId), 7000n, `${fault}: refunded once`);
          await eventually("PAYMENT_CANCELLED at the host", async () => withoutLookup.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_CANCELLED"));
        }
      });
    });

    describe("for checkouts replaced by a newer PayStart", () => {
      const faults = new Faults();
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { factories: [faultyTestConnector(faults)] });
      });
      after(async () => rig.close());

      it("closes a superseded checkout at the PG when PayStart's own attempt to close it failed", async () => {
        const first = await startCheckout(rig.pgb, { TotalPrice: "1000" });
        faults.throwNext("expireCheckout", new ConnectorError("retryable", "PG unavailable"));
        const second = await hostPost(rig.pgb, "/PGB/PayStart", payStartBody({ OrderId: first.orderId, TotalPrice: "2000" }));
        assert.equal(second.status, 200, JSON.stringify(second.body));
        assert.notEqual(second.body.PaymentId, first.paymentId);

        await eventually(
          "the old checkout expired at the PG",
          async () => (await testPgLedger(rig.pgb.database.db).payment(first.paymentId))?.status === "EXPIRED",
        );
        await assert.rejects(pressButton(first.checkoutUrl, "pay"), /no pay button/);
        assert.ok(faults.calls.expireCheckout >= 2, "PayStart's failed attempt, then the reconciler's");
        const view = await waitForOrder(rig.pgb, first.orderId, () => true);
        assert.equal(view.PaymentId, second.body.PaymentId);
        assert.equal(view.Status, "READY", "the new checkout is untouched");
      });
    });

    describe("on demand through POST /PGB/Sync", () => {
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { workers: { disable: ["reconciler"] } });
      });
      after(async () => {
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "send";
        await rig.close();
      });

      it("asks the PG about the order at once and answers its payment, now PAID", async () => {
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "drop";
        const { orderId, checkoutUrl } = await startCheckout(rig.pgb, { TotalPrice: "9900" });
        await pressButton(checkoutUrl, "pay");
        const before = await waitForOrder(rig.pgb, orderId, () => true);
        assert.equal(before.Status, "READY", "nothing told PGB yet");

        const sync = await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId });
        assert.equal(sync.status, 200, JSON.stringify(sync.body));
        assert.equal(sync.body.IsSuccess, true);
        assert.equal(sync.body.Status, "PAID");
        assert.equal(sync.body.PaidPrice, "9900");
        assert.deepEqual(
          (sync.body.Checks as Array<Record<string, unknown>>).map((c) => [c.Kind, c.Result]),
          [["PAYMENT", "PAID"]],
        );
        await eventually("PAYMENT_COMPLETED at the host", async () => rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_COMPLETED"));

        const again = await hostPost(rig.pgb, "/PGB/Sync", { dbtype: "DEMO", orderid: orderId });
        assert.equal(again.status, 200);
        assert.deepEqual(again.body.Checks, [], "nothing left to ask about");
      });

      it("refuses an unknown order, another tenant's DBType, bad input and a missing key", async () => {
        const unknown = await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: 987_654_321 });
        assert.equal(unknown.status, 404);
        assert.equal(unknown.body.ErrorCode, "ORDER_NOT_FOUND");
        const foreign = await hostPost(rig.pgb, "/PGB/Sync", { DBType: "OTHER", OrderId: 1 });
        assert.equal(foreign.status, 403);
        assert.equal(foreign.body.ErrorCode, "TENANT_FORBIDDEN");
        const bad = await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: "x" });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.ErrorCode, "INVALID_FIELD");
        const anonymous = await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: 1 }, { key: null });
        assert.equal(anonymous.status, 401);
      });
    });
  });
}
