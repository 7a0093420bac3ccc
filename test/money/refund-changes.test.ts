/**
 * Refunds the PG changes after the fact: one it reported succeeded and then fails (the money is back
 * with the merchant, so PGB's balance must be too), and one made in the PG's dashboard that PGB never
 * sent (PGB must count it, once).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { testPgFor, testPgSettings } from "../../src/connectors/test-pg/index.ts";
import { backends } from "../support/backends.ts";
import { paidOrder, waitForOrder } from "../support/checkout.ts";
import { hostPost } from "../support/pgb.ts";
import { eventually, startRig, type DeliveryRig } from "../workers/support.ts";
import { captureAlerts, pgbBooks, pgBooks, pgTransactionOf, type Alert } from "./support.ts";

type Refund = { RefundId: string; Status: string; RefundPrice: string; FailureCode: string | null };

function partial(orderId: number, refund: string, current: string) {
  return {
    DBType: "DEMO",
    OrderId: orderId,
    RefundPrice: refund,
    CurrentTotalPrice: current,
    ModifedTotalPrice: String(Number(current) - Number(refund)),
    JoinerId: 42,
    NationCode: "KR",
  };
}

for (const backend of backends()) {
  describe(`refunds the PG changes afterwards, on ${backend}`, () => {
    let rig: DeliveryRig;
    let alerts: Alert[];
    before(async () => {
      rig = await startRig(backend);
      alerts = captureAlerts(rig.pgb);
    });
    after(async () => rig.close());

    it("a refund the PG fails after reporting success: row FAILED, balance restored, REFUND_FAILED to the host, an alert; the host can refund again", async () => {
      const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "15000" });
      const cancel = await hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId, "5000", "15000"));
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      const refundId = String(cancel.body.RefundId);
      const pgRefund = (await testPgFor(rig.pgb.database.db)!.listRefunds("DEMO", await pgTransactionOf(rig.pgb, paymentId)))[0]!;

      await testPgFor(rig.pgb.database.db)!.failRefundAfterSuccess(pgRefund.refundId, "CARD_ACCOUNT_CLOSED");

      const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PAID");
      assert.equal(view.RemainingPrice, "15000");
      assert.equal(view.CancelledPrice, "0");
      const refund = (view.Refunds as Refund[]).find((r) => r.RefundId === refundId)!;
      assert.equal(refund.Status, "FAILED");
      assert.equal(refund.FailureCode, "CARD_ACCOUNT_CLOSED");
      const notice = await eventually("REFUND_FAILED at the host", async () => rig.host.acceptedFor(orderId).find((n) => n.type === "REFUND_FAILED"));
      assert.equal(notice.payload.RefundId, refundId);
      assert.equal(notice.payload.RefundPrice, "5000");
      assert.equal(notice.payload.PGCode, "CARD_ACCOUNT_CLOSED");
      assert.equal(notice.payload.RemainingPrice, "15000");
      assert.equal(notice.payload.Status, "PAID");
      assert.deepEqual(
        rig.host.acceptedFor(orderId).map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "REFUND_FAILED"],
      );
      assert.ok(alerts.some((a) => a.alert === "REFUND_FAILED" && a.refundId === refundId));

      const again = await hostPost(rig.pgb, "/PGB/FullCancel", {
        DbType: "DEMO",
        OrderId: orderId,
        PGType: "TEST",
        PayType: "CARD",
        CurrentTotalPrice: 15000,
        JoinerId: 42,
        NationCode: "KR",
      });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 15000n, refunded: 15000n });
      assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 15000n, refunded: 15000n });
    });

    it("a refund made in the PG's dashboard: recorded, the balance follows, the host is told, an alert; counted once however often it is reported", async () => {
      const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "12000" });
      const settings = testPgSettings(rig.pgb.database.db, "DEMO")!;
      settings.webhookDelivery = "duplicate";
      let pgRefundId: string;
      try {
        pgRefundId = await testPgFor(rig.pgb.database.db)!.dashboardRefund(await pgTransactionOf(rig.pgb, paymentId), 4000n);
      } finally {
        settings.webhookDelivery = "send";
      }
      const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
      assert.equal(view.RemainingPrice, "8000");
      assert.equal(view.CancelledPrice, "4000");
      const notice = await eventually("the host is told", async () => rig.host.acceptedFor(orderId).find((n) => n.type === "PAYMENT_PARTIALLY_CANCELLED"));
      assert.equal(notice.payload.RefundPrice, "4000");
      assert.equal(notice.payload.RefundOrigin, "PG");
      assert.equal(notice.payload.RemainingPrice, "8000");
      assert.ok(alerts.some((a) => a.alert === "EXTERNAL_REFUND" && a.pgRefundId === pgRefundId));

      // Both copies of the webhook processed, and a Sync: still one refund row.
      await eventually(
        "webhooks processed",
        async () => (await rig.pgb.database.db.selectFrom("pg_webhooks").select("id").where("status", "in", ["RECEIVED", "FAILED"]).execute()).length === 0,
      );
      await hostPost(rig.pgb, "/PGB/Sync", { DBType: "DEMO", OrderId: orderId });
      const refunds = await rig.pgb.database.db
        .selectFrom("money_movements")
        .selectAll()
        .where("payment_id", "=", paymentId)
        .where("kind", "=", "REFUND")
        .execute();
      assert.equal(refunds.length, 1);
      assert.deepEqual(await pgbBooks(rig.pgb, orderId), await pgBooks(rig.pgb, orderId));

      // The host goes on from the new balance.
      const cancel = await hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId, "8000", "8000"));
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      assert.deepEqual(await pgBooks(rig.pgb, orderId), { captured: 12000n, refunded: 12000n });
      assert.deepEqual(await pgbBooks(rig.pgb, orderId), { captured: 12000n, refunded: 12000n });
    });
  });
}
