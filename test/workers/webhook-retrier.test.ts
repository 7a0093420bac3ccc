import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConnectorError } from "../../src/core/ports/connector.ts";
import { testPgSettings } from "../../src/connectors/test-pg/index.ts";
import { backends } from "../support/backends.ts";
import { pressButton, waitForOrder } from "../support/checkout.ts";
import { Faults, faultyTestConnector } from "../support/faulty-connector.ts";
import { hostPost, payStartBody } from "../support/pgb.ts";
import { eventually, startRig, type DeliveryRig } from "./support.ts";

type History = Array<{ To: string; Source: string }>;

for (const backend of backends()) {
  describe(`webhook retries on ${backend}`, () => {
    const faults = new Faults();
    let rig: DeliveryRig;
    before(async () => {
      // No reconciler: whatever settles these payments is the webhook path.
      rig = await startRig(backend, { factories: [faultyTestConnector(faults)], workers: { disable: ["reconciler"] } });
    });
    after(async () => rig.close());

    async function webhooksOf(tpId: string) {
      return rig.pgb.database.db.selectFrom("pg_webhooks").selectAll().where("body", "like", `%${tpId}%`).execute();
    }

    it("retries a stored webhook whose processing failed until the payment is settled, and notifies the host", async () => {
      const body = payStartBody({ TotalPrice: "4400" });
      const started = await hostPost(rig.pgb, "/PGB/PayStart", body);
      const tpId = String(started.body.RedirectUrl).split("/").pop()!;
      // The PG is unreachable when PGB re-reads the payment for the webhook, twice.
      faults.throwNext("fetchPayment", new ConnectorError("retryable", "PG unavailable"));
      faults.throwNext("fetchPayment", new ConnectorError("retryable", "PG unavailable"));
      await pressButton(String(started.body.RedirectUrl), "pay");

      const view = await waitForOrder(rig.pgb, Number(body.OrderId), (b) => b.Status === "PAID");
      assert.equal((view.History as History).find((h) => h.To === "PAID")?.Source, "WEBHOOK");
      const [webhook] = await eventually("the webhook processed", async () => {
        const rows = await webhooksOf(tpId);
        return rows.length === 1 && rows[0]!.status === "PROCESSED" ? rows : undefined;
      });
      assert.equal(webhook!.attempts, 3, "failed on arrival, failed once more, then processed");
      await eventually("PAYMENT_COMPLETED at the host", async () => rig.host.acceptedFor(Number(body.OrderId)).find((r) => r.type === "PAYMENT_COMPLETED"));
    });

    it("processes a webhook left RECEIVED by a process that died before acting on it", async () => {
      testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "drop";
      try {
        const body = payStartBody({ TotalPrice: "4500" });
        const started = await hostPost(rig.pgb, "/PGB/PayStart", body);
        const tpId = String(started.body.RedirectUrl).split("/").pop()!;
        await pressButton(String(started.body.RedirectUrl), "pay");
        // What the dead process left behind: the webhook stored and answered, never processed.
        await rig.pgb.database.db
          .insertInto("pg_webhooks")
          .values({
            pg: "TEST",
            tenant: "DEMO",
            event_id: `evt_crashed_${tpId}`,
            status: "RECEIVED",
            headers: "{}",
            body: JSON.stringify({ data: { paymentId: tpId } }),
            action: JSON.stringify({ kind: "payment", eventId: `evt_crashed_${tpId}`, pgTransactionId: tpId, paymentReference: started.body.PaymentId }),
            received_at: new Date(Date.now() - 60_000),
          } as never)
          .execute();
        const view = await waitForOrder(rig.pgb, Number(body.OrderId), (b) => b.Status === "PAID");
        assert.equal((view.History as History).find((h) => h.To === "PAID")?.Source, "WEBHOOK");
        const [row] = await webhooksOf(tpId);
        assert.equal(row!.status, "PROCESSED");
      } finally {
        testPgSettings(rig.pgb.database.db, "DEMO")!.webhookDelivery = "send";
      }
    });

    it("exports the webhook processing lag, the unprocessed count and the retries at /metrics", async () => {
      const metrics = await (await fetch(`${rig.pgb.url}/metrics`)).text();
      assert.match(metrics, /^pgb_webhooks_unprocessed\{status="FAILED"\} 0$/m);
      assert.match(metrics, /^pgb_webhook_processing_lag_seconds 0$/m);
      assert.match(metrics, /^pgb_webhook_retries_total\{result="processed"\} [1-9]/m);
    });
  });
}
