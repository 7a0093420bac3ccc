import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { backends } from "../support/backends.ts";
import { followReturn, openCheckout, paidOrder, pressButton, submitCheckoutForm, waitForOrder } from "../support/checkout.ts";
import { hostPost, payStartBody, startPgb, TEST_PG_SECRET, testPgSettings, type TestPgb } from "../support/pgb.ts";

async function notificationsOf(pgb: TestPgb, orderId: number) {
  return pgb.database.db.selectFrom("notifications").selectAll().where("order_id", "=", orderId).orderBy("seq").execute();
}

for (const backend of backends()) {
  describe(`payment flow with the TEST PG on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => {
      await pgb.close();
    });

    it("takes a card payment from PayStart through the checkout page back to the host's page, PAID with one notification queued", async () => {
      const body = payStartBody({ TotalPrice: "15000" });
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(started.status, 200);
      assert.equal(started.body.IsSuccess, true);
      assert.equal(started.body.ErrorCode, "OK");
      assert.equal(started.body.Type, "TEST");
      assert.match(String(started.body.RedirectUrl), /\/test-pg\/checkout\/tp_/);

      const location = await pressButton(String(started.body.RedirectUrl), "pay");
      const landing = await followReturn(pgb, location);
      assert.equal(landing.origin + landing.pathname, "https://shop.example.com/order/complete");
      assert.equal(landing.searchParams.get("OrderId"), String(body.OrderId));
      assert.equal(landing.searchParams.get("Result"), "PAID");

      const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
      assert.equal(view.PaidPrice, "15000");
      assert.equal(view.RemainingPrice, "15000");
      assert.equal(view.Currency, "KRW");

      const notifications = await notificationsOf(pgb, Number(body.OrderId));
      assert.equal(notifications.length, 1, "exactly one notification although webhook and browser both reported the payment");
      const payload = notifications[0]!.payload as Record<string, unknown>;
      assert.equal(notifications[0]!.type, "PAYMENT_COMPLETED");
      assert.equal(notifications[0]!.status, "PENDING");
      assert.equal(payload.Type, "PAYMENT_COMPLETED");
      assert.equal(payload.DBType, "DEMO");
      assert.equal(payload.OrderId, body.OrderId);
      assert.equal(payload.JoinerId, 42);
      assert.equal(payload.PGType, "TEST");
      assert.equal(payload.PayType, "CARD");
      assert.equal(payload.Currency, "KRW");
      assert.equal(payload.TotalPrice, "15000");
      assert.equal(payload.PaidPrice, "15000");
      assert.equal(payload.PGTransactionId, started.body.RedirectUrl && String(started.body.RedirectUrl).split("/").pop());
      assert.ok(typeof payload.OccurredAt === "string");

      const captures = await pgb.database.db.selectFrom("money_movements").selectAll().where("payment_id", "=", String(started.body.PaymentId)).execute();
      assert.deepEqual(
        captures.map((c) => [c.kind, c.status, String(c.amount)]),
        [["CAPTURE", "SUCCEEDED", "15000"]],
      );
    });

    it("keeps exact cents for a two-decimal currency", async () => {
      const body = payStartBody({ NationCode: "US", TotalPrice: "19.99" });
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(started.status, 200);
      await followReturn(pgb, await pressButton(String(started.body.RedirectUrl), "pay"));
      const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
      assert.equal(view.Currency, "USD");
      assert.equal(view.TotalPrice, "19.99");
      const row = await pgb.database.db.selectFrom("payments").select("amount").where("id", "=", String(started.body.PaymentId)).executeTakeFirstOrThrow();
      assert.equal(String(row.amount), "1999");
    });

    it("marks a declined payment FAILED, tells the host, and sends the browser back with Result=FAILED", async () => {
      const body = payStartBody();
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      const landing = await followReturn(pgb, await pressButton(String(started.body.RedirectUrl), "fail"));
      assert.equal(landing.searchParams.get("Result"), "FAILED");
      await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "FAILED");
      const types = (await notificationsOf(pgb, Number(body.OrderId))).map((n) => n.type);
      assert.deepEqual(types, ["PAYMENT_FAILED"]);
    });

    it("marks a checkout the customer cancelled FAILED", async () => {
      const body = payStartBody();
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      const landing = await followReturn(pgb, await pressButton(String(started.body.RedirectUrl), "cancel"));
      assert.equal(landing.searchParams.get("Result"), "FAILED");
      const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "FAILED");
      assert.equal(view.FailureCode, "CANCELLED_BY_CUSTOMER");
    });

    it("issues a virtual account, tells the host DEPOSIT_WAITING with the account, then PAID on deposit", async () => {
      const body = payStartBody({ PayType: "VIRTUAL_ACCOUNT", TotalPrice: "33000" });
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(started.status, 200);
      const landing = await followReturn(pgb, await pressButton(String(started.body.RedirectUrl), "issue-account"));
      assert.equal(landing.searchParams.get("Result"), "WAITING_FOR_DEPOSIT");
      const waiting = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "WAITING_FOR_DEPOSIT");
      const account = waiting.VirtualAccount as Record<string, string>;
      assert.match(account.AccountNumber!, /^X\d+/);
      assert.equal(account.Bank, "TEST BANK");

      await pressButton(String(started.body.RedirectUrl), "deposit");
      await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
      const notifications = await notificationsOf(pgb, Number(body.OrderId));
      assert.deepEqual(
        notifications.map((n) => n.type),
        ["DEPOSIT_WAITING", "PAYMENT_COMPLETED"],
      );
      const waitingPayload = notifications[0]!.payload as { VirtualAccount: Record<string, string> };
      assert.equal(waitingPayload.VirtualAccount.AccountNumber, account.AccountNumber);
    });

    it("returns the same checkout when PayStart is repeated with the same amount", async () => {
      const body = payStartBody();
      const first = await hostPost(pgb, "/PGB/PayStart", body);
      const second = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(second.status, 200);
      assert.equal(second.body.RedirectUrl, first.body.RedirectUrl);
      assert.equal(second.body.PaymentId, first.body.PaymentId);
    });

    it("supersedes the live checkout when PayStart comes with a new amount, and the old checkout can no longer be paid", async () => {
      const body = payStartBody({ TotalPrice: "10000" });
      const first = await hostPost(pgb, "/PGB/PayStart", body);
      const second = await hostPost(pgb, "/PGB/PayStart", { ...body, TotalPrice: "12000" });
      assert.equal(second.status, 200);
      assert.notEqual(second.body.PaymentId, first.body.PaymentId);
      await assert.rejects(pressButton(String(first.body.RedirectUrl), "pay"), /no pay button|409/);
      await followReturn(pgb, await pressButton(String(second.body.RedirectUrl), "pay"));
      const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
      assert.equal(view.TotalPrice, "12000");
      const attempts = view.Attempts as Array<Record<string, unknown>>;
      assert.deepEqual(
        attempts.map((a) => a.Status),
        ["SUPERSEDED", "PAID"],
      );
    });

    it("refuses PayStart on an order that is already paid with ORDER_ALREADY_PAID", async () => {
      const { orderId } = await paidOrder(pgb);
      const again = await hostPost(pgb, "/PGB/PayStart", payStartBody({ OrderId: orderId }));
      assert.equal(again.status, 409);
      assert.equal(again.body.ErrorCode, "ORDER_ALREADY_PAID");
      assert.equal(again.body.IsSuccess, false);
      assert.equal(again.body.RedirectUrl, null);
    });

    it("completes a payment exactly once when the same webhook is delivered twice and races the browser return", async () => {
      const settings = testPgSettings(pgb.database.db, "DEMO")!;
      settings.webhookDelivery = "duplicate";
      try {
        const body = payStartBody();
        const started = await hostPost(pgb, "/PGB/PayStart", body);
        const location = await pressButton(String(started.body.RedirectUrl), "pay");
        // Three browser returns in parallel with the two webhook copies already in flight.
        await Promise.all([followReturn(pgb, location), followReturn(pgb, location), followReturn(pgb, location)]);
        await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
        await new Promise((r) => setTimeout(r, 300));
        const notifications = await notificationsOf(pgb, Number(body.OrderId));
        assert.deepEqual(
          notifications.map((n) => n.type),
          ["PAYMENT_COMPLETED"],
        );
        const events = await pgb.database.db
          .selectFrom("payment_events")
          .select("event")
          .where("payment_id", "=", String(started.body.PaymentId))
          .where("event", "=", "PAID")
          .execute();
        assert.equal(events.length, 1);
        const captures = await pgb.database.db.selectFrom("money_movements").select("id").where("payment_id", "=", String(started.body.PaymentId)).execute();
        assert.equal(captures.length, 1);
        const webhooks = await pgb.database.db
          .selectFrom("pg_webhooks")
          .selectAll()
          .where("body", "like", `%${String(started.body.PaymentId)}%`)
          .execute();
        assert.equal(webhooks.length, 1, "the duplicate delivery is deduplicated by event id");
      } finally {
        settings.webhookDelivery = "send";
      }
    });

    it("completes a payment from the webhook alone when the customer never comes back", async () => {
      const body = payStartBody();
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      await pressButton(String(started.body.RedirectUrl), "pay");
      const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
      const history = view.History as Array<Record<string, unknown>>;
      assert.equal(history.find((h) => h.To === "PAID")?.Source, "WEBHOOK");
      // The webhook is marked acted on by the same statement that made the payment PAID.
      const [webhook] = await pgb.database.db
        .selectFrom("pg_webhooks")
        .select(["status", "attempts", "claim_token", "processed_at", "error"])
        .where("body", "like", `%${String(started.body.PaymentId)}%`)
        .execute();
      assert.deepEqual(
        { ...webhook, processed_at: webhook?.processed_at instanceof Date },
        {
          status: "PROCESSED",
          attempts: 1,
          claim_token: null,
          processed_at: true,
          error: null,
        },
      );
    });

    it("completes a payment from the browser return alone when the webhook is lost", async () => {
      const settings = testPgSettings(pgb.database.db, "DEMO")!;
      settings.webhookDelivery = "drop";
      try {
        const body = payStartBody();
        const started = await hostPost(pgb, "/PGB/PayStart", body);
        const landing = await followReturn(pgb, await pressButton(String(started.body.RedirectUrl), "pay"));
        assert.equal(landing.searchParams.get("Result"), "PAID");
        const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
        const history = view.History as Array<Record<string, unknown>>;
        assert.equal(history.find((h) => h.To === "PAID")?.Source, "BROWSER_RETURN");
      } finally {
        settings.webhookDelivery = "send";
      }
    });

    it("rejects a forged webhook, stores it as rejected, and changes nothing", async () => {
      const body = payStartBody();
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      const tpId = String(started.body.RedirectUrl).split("/").pop()!;
      const event = JSON.stringify({
        id: "evt_forged",
        type: "payment.updated",
        created: new Date().toISOString(),
        data: { paymentId: tpId, merchantReference: started.body.PaymentId, status: "PAID" },
      });
      const forger = new Webhook("whsec_" + Buffer.from("not-the-real-secret-at-all").toString("base64"));
      const now = new Date();
      const response = await fetch(`${pgb.url}/PGBReturn/test/webhook/DEMO`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": "evt_forged",
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": forger.sign("evt_forged", now, event),
        },
        body: event,
      });
      assert.equal(response.status, 400);
      const unsigned = await fetch(`${pgb.url}/PGBReturn/test/webhook/DEMO`, { method: "POST", headers: { "content-type": "application/json" }, body: event });
      assert.equal(unsigned.status, 400);
      const rejected = await pgb.database.db.selectFrom("pg_webhooks").selectAll().where("status", "=", "REJECTED").where("body", "=", event).execute();
      assert.equal(rejected.length, 2);
      const view = await waitForOrder(pgb, Number(body.OrderId), () => true);
      assert.equal(view.Status, "READY");
    });

    it("does not complete a payment on a genuine webhook when the PG says it is unpaid", async () => {
      const body = payStartBody();
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      const tpId = String(started.body.RedirectUrl).split("/").pop()!;
      // Correctly signed (the attacker has the secret, or the PG misfires) but the PG's record says OPEN.
      const event = JSON.stringify({
        id: "evt_claims_paid",
        type: "payment.updated",
        created: new Date().toISOString(),
        data: { paymentId: tpId, merchantReference: started.body.PaymentId, status: "PAID" },
      });
      const signer = new Webhook(TEST_PG_SECRET);
      const now = new Date();
      const response = await fetch(`${pgb.url}/PGBReturn/test/webhook/DEMO`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": "evt_claims_paid",
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": signer.sign("evt_claims_paid", now, event),
        },
        body: event,
      });
      assert.equal(response.status, 200);
      const view = await waitForOrder(pgb, Number(body.OrderId), () => true);
      assert.equal(view.Status, "READY");
    });

    it("refuses a TEST checkout id whose amount was altered, so nobody can pay less than PGB asked", async () => {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody({ TotalPrice: "50000" }));
      const id = String(started.body.RedirectUrl).split("/").pop()!;
      const [body, signature] = id.slice(3).split(".");
      const claims = JSON.parse(Buffer.from(body!, "base64url").toString("utf8")) as Record<string, unknown>;
      const forged = `tp_${Buffer.from(JSON.stringify({ ...claims, a: "1" })).toString("base64url")}.${signature}`;
      assert.equal((await fetch(`${pgb.url}/test-pg/checkout/${forged}`)).status, 404);
      // With a valid CSRF token (from the genuine page), so that the forged id is what gets refused.
      const pay = await submitCheckoutForm(`${pgb.url}/test-pg/checkout/${forged}/pay`, "pay", await openCheckout(String(started.body.RedirectUrl)));
      assert.equal(pay.status, 404);
      assert.equal((await fetch(String(started.body.RedirectUrl))).status, 200, "the genuine id still works");
    });

    it("answers the browser return of an unknown payment with 404", async () => {
      const response = await fetch(`${pgb.url}/PGBReturn/test/return/pay_doesnotexist`, { redirect: "manual" });
      assert.equal(response.status, 404);
    });
  });
}
