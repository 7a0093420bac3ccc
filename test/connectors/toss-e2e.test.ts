/**
 * End to end through PGB's host API with a tenant routed to TOSS and the Toss simulator standing in
 * for api.tosspayments.com and js.tosspayments.com: PayStart → PGB's Toss page → Toss's window →
 * browser return (confirm) → webhooks → host notifications → cancels. One test drives the page in
 * headless Chromium; the rest follow the same redirects over plain HTTP, doing what the SDK does.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Page } from "playwright-core";
import { tossConnector } from "../../src/connectors/toss/index.ts";
import { testConnector } from "../../src/connectors/test-pg/index.ts";
import { backends } from "../support/backends.ts";
import { launchChromium, noChromium } from "../support/browser.ts";
import { followReturn as followPgbReturn, notificationsOf, waitForOrder } from "../support/checkout.ts";
import { demoTenant, HOST_ORIGIN, hostPost, partialCancelBody, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { TossSimulator, type TossSimulatorOptions } from "../simulators/toss/simulator.ts";

const SECRET_KEY = "test_sk_e2eSimulatorSecret0001";
const CLIENT_KEY = "test_ck_e2eSimulatorClient0001";

function tenants(sim: TossSimulator): Record<string, unknown> {
  return {
    DEMO: demoTenant({
      routes: [{ nationCode: "KR", payType: "*", pg: "TOSS" }],
      pgs: { TOSS: { secretKey: SECRET_KEY, clientKey: CLIENT_KEY, apiBase: sim.url, sdkScriptUrl: sim.sdkScriptUrl, timeoutMs: 1_000 } },
    }),
  };
}

interface PageRequest {
  clientKey: string;
  payment: { method: string; amount: { currency: string; value: number }; orderId: string; orderName: string; successUrl: string; failUrl: string };
}

for (const backend of backends()) {
  describe(`Toss end to end on ${backend}`, () => {
    let sim: TossSimulator;
    let pgb: TestPgb;
    /** Kept so a test can switch a simulator behaviour (refund transfers left pending...) and back. */
    const simOptions: TossSimulatorOptions = { secretKey: SECRET_KEY, clientKey: CLIENT_KEY };

    before(async () => {
      sim = await TossSimulator.start(simOptions);
      pgb = await startPgb(backend, { tenants: tenants(sim), factories: [testConnector, tossConnector] });
      sim.configureWebhooks({ url: `${pgb.url}/PGBReturn/toss/webhook/DEMO` });
    });
    after(async () => {
      await sim.close();
      await pgb.close();
    });

    async function payStart(overrides: Record<string, unknown>): Promise<{ orderId: number; paymentId: string; redirectUrl: string }> {
      const body = payStartBody({ NationCode: "KR", ...overrides });
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.equal(started.body.Type, "TOSS");
      return { orderId: Number(body.OrderId), paymentId: String(started.body.PaymentId), redirectUrl: String(started.body.RedirectUrl) };
    }

    /** PGB's Toss page, read as the SDK call it would make. */
    async function pageRequest(redirectUrl: string): Promise<PageRequest> {
      const page = await fetch(redirectUrl);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.ok(html.includes(`src="${sim.sdkScriptUrl}"`));
      const json = /<script id="toss-request" type="application\/json">(.*?)<\/script>/s.exec(html)?.[1];
      assert.ok(json !== undefined, "the page carries the payment request");
      return JSON.parse(json) as PageRequest;
    }

    /** What the SDK stand-in does on requestPayment, then one button in Toss's window: where the browser is sent. */
    async function tossWindow(redirectUrl: string, button: "approve" | "reject" | "cancel"): Promise<string> {
      const { clientKey, payment } = await pageRequest(redirectUrl);
      const query = new URLSearchParams({
        clientKey,
        customerKey: "@@ANONYMOUS",
        method: payment.method,
        amount: String(payment.amount.value),
        orderId: payment.orderId,
        orderName: payment.orderName,
        successUrl: payment.successUrl,
        failUrl: payment.failUrl,
      });
      const window = await fetch(`${sim.url}/sim/checkout?${query.toString()}`);
      const html = await window.text();
      const action = new RegExp(`action="([^"]+/${button})"`).exec(html)?.[1];
      assert.ok(action !== undefined, `no ${button} button: ${html.slice(0, 300)}`);
      const pressed = await fetch(action, { method: "POST", redirect: "manual" });
      assert.equal(pressed.status, 303);
      return pressed.headers.get("location")!;
    }

    const followReturn = (location: string): Promise<URL> => followPgbReturn(pgb, location);

    const notifications = (orderId: number) => notificationsOf(pgb, orderId);

    async function paidCard(total: string): Promise<{ orderId: number; paymentId: string }> {
      const started = await payStart({ PayType: "CARD", TotalPrice: total });
      const landing = await followReturn(await tossWindow(started.redirectUrl, "approve"));
      assert.equal(landing.searchParams.get("Result"), "PAID");
      return started;
    }

    async function waitingAccount(total: string): Promise<{ orderId: number; paymentId: string; view: Record<string, unknown> }> {
      const started = await payStart({ PayType: "VIRTUAL_ACCOUNT", TotalPrice: total });
      const landing = await followReturn(await tossWindow(started.redirectUrl, "approve"));
      assert.equal(landing.searchParams.get("Result"), "WAITING_FOR_DEPOSIT");
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "WAITING_FOR_DEPOSIT");
      return { ...started, view };
    }

    /**
     * Opens PGB's Toss page at `redirectUrl` in Chromium, lets `inWindow` look at Toss's window, presses
     * `button` there and answers where the browser landed on the host's side.
     */
    async function inTossWindowInChromium(redirectUrl: string, button: "#approve" | "#cancel", inWindow?: (page: Page) => Promise<void>): Promise<URL> {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        // The host's page is not running here: answer for it so the last redirect lands somewhere.
        await page.route(`${HOST_ORIGIN}/**`, (route) => route.fulfill({ status: 200, contentType: "text/html", body: "<h1>host order page</h1>" }));
        await page.goto(redirectUrl);
        // PGB's page loaded the (simulated) SDK and requested the payment: Toss's window is open.
        await page.waitForURL(`${sim.url}/sim/checkout?**`);
        await inWindow?.(page);
        await page.click(button);
        await page.waitForURL(`${HOST_ORIGIN}/**`);
        return new URL(page.url());
      } finally {
        await browser.close();
      }
    }

    it("pays by card through PGB's Toss page in headless Chromium and lands on the host's page with the order PAID", { skip: noChromium }, async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "15000", OrderDescription: "<b>티셔츠</b> & 양말" });
      const landing = await inTossWindowInChromium(started.redirectUrl, "#approve", async (page) => {
        assert.equal(await page.textContent("#amount"), "15000원");
        assert.equal(await page.textContent("#order"), "<b>티셔츠</b> & 양말");
      });
      assert.equal(landing.searchParams.get("Result"), "PAID");
      assert.equal(landing.searchParams.get("OrderId"), String(started.orderId));
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.equal(view.PaidPrice, "15000");
      await sim.flushWebhooks();
      const sent = await notifications(started.orderId);
      assert.deepEqual(
        sent.map((n) => n.type),
        ["PAYMENT_COMPLETED"],
        "browser return and webhook together notify once",
      );
      assert.equal(sent[0]!.payload.PGType, "TOSS");
      assert.equal(sent[0]!.payload.PGTransactionId, sim.payment(started.paymentId)?.paymentKey);
    });

    it("sends the browser back to the host with Result=FAILED when the customer cancels in Toss's window in Chromium", { skip: noChromium }, async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "5000" });
      const landing = await inTossWindowInChromium(started.redirectUrl, "#cancel");
      // Closing Toss's window ends nothing at Toss: the customer may still pay this checkout.
      assert.equal(landing.searchParams.get("Result"), "PENDING");
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "READY");
      assert.equal(view.FailureCode, null);
      assert.deepEqual(await notifications(started.orderId), []);
    });

    it("pays by card over the redirects alone, confirming once and notifying PAYMENT_COMPLETED once", async () => {
      const confirmsBefore = sim.effectiveConfirms;
      const { orderId, paymentId } = await paidCard("12000");
      await sim.flushWebhooks();
      assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
      assert.equal(sim.payment(paymentId)?.status, "DONE");
      assert.deepEqual(
        (await notifications(orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
    });

    it("marks a card the issuer rejects FAILED with Toss's code and tells the host", async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "7000" });
      const landing = await followReturn(await tossWindow(started.redirectUrl, "reject"));
      assert.equal(landing.searchParams.get("Result"), "FAILED");
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "FAILED");
      assert.equal(view.FailureCode, "REJECT_CARD_COMPANY");
      await sim.flushWebhooks();
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_FAILED"],
      );
    });

    it("refuses to confirm when the amount in the return URL was altered, and fails the payment without charging", async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "50000" });
      const location = new URL(await tossWindow(started.redirectUrl, "approve"));
      location.searchParams.set("amount", "100");
      const confirmsBefore = sim.requests.filter((r) => r.path === "/v1/payments/confirm").length;
      const landing = await followReturn(location.toString());
      assert.equal(landing.searchParams.get("Result"), "FAILED");
      assert.equal(sim.requests.filter((r) => r.path === "/v1/payments/confirm").length, confirmsBefore, "no confirm reached Toss");
      assert.equal(sim.payment(started.paymentId)?.status, "IN_PROGRESS");
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "FAILED");
      assert.equal(view.FailureCode, "AMOUNT_MISMATCH");
    });

    it("issues a virtual account, tells the host DEPOSIT_WAITING with the account, ignores a forged deposit callback, and completes once on duplicated, reordered deposit webhooks", async () => {
      const { orderId, paymentId, view } = await waitingAccount("33000");
      const account = view.VirtualAccount as Record<string, string>;
      const issued = sim.payment(paymentId)!;
      assert.equal(account.AccountNumber, issued.virtualAccount?.accountNumber);
      assert.equal(account.Bank, "우리은행");
      assert.equal(account.HolderName, "홍길동");
      assert.match(account.DueDate ?? "", /\+09:00$/);
      await sim.flushWebhooks();
      const waiting = await notifications(orderId);
      assert.deepEqual(
        waiting.map((n) => n.type),
        ["DEPOSIT_WAITING"],
      );
      assert.deepEqual(waiting[0]!.payload.VirtualAccount, account);

      // Anyone can POST to the webhook URL: a deposit callback without the account's secret is refused...
      const forged = await sim.sendWebhook({
        createdAt: "2026-03-02T10:00:00.000000",
        secret: "ps_guessed",
        status: "DONE",
        transactionKey: "FORGED",
        orderId: paymentId,
      });
      assert.equal(forged.status, 400);
      // ...and a status-change body claiming DONE changes nothing, since Toss itself still says waiting.
      const claimed = sim.webhookBodies(paymentId).statusChanged;
      (claimed.data as Record<string, unknown>).status = "DONE";
      const hint = await sim.sendWebhook(claimed, "PAYMENT_STATUS_CHANGED");
      assert.equal(hint.status, 200);
      const still = await waitForOrder(pgb, orderId, (b) => typeof b.Status === "string");
      assert.equal(still.Status, "WAITING_FOR_DEPOSIT");

      sim.configureWebhooks({ url: `${pgb.url}/PGBReturn/toss/webhook/DEMO`, hold: true, depositCallbackLayout: "data" });
      try {
        sim.deposit(paymentId);
        assert.equal(sim.heldWebhooks.length, 2);
        await sim.releaseWebhooks({ order: "reverse", duplicate: true });
      } finally {
        sim.configureWebhooks({ url: `${pgb.url}/PGBReturn/toss/webhook/DEMO` });
      }
      const deliveries = sim.webhookDeliveries.slice(-4);
      assert.deepEqual(
        deliveries.map((d) => d.status),
        [200, 200, 200, 200],
      );
      await waitForOrder(pgb, orderId, (b) => b.Status === "PAID");
      assert.deepEqual(
        (await notifications(orderId)).map((n) => n.type),
        ["DEPOSIT_WAITING", "PAYMENT_COMPLETED"],
      );
      const stored = await pgb.database.db
        .selectFrom("pg_webhooks")
        .select(["event_id", "status"])
        .where("pg", "=", "TOSS")
        .where("event_id", "like", `%${paymentId}%`)
        .execute();
      assert.ok(stored.length >= 2);
      assert.equal(new Set(stored.map((w) => w.event_id)).size, stored.length, "each event stored once");
    });

    it("completes a deposit reported only by DEPOSIT_CALLBACK at the top level", async () => {
      const { orderId, paymentId } = await waitingAccount("21000");
      sim.configureWebhooks({ url: `${pgb.url}/PGBReturn/toss/webhook/DEMO`, events: ["DEPOSIT_CALLBACK"], depositCallbackLayout: "top" });
      try {
        sim.deposit(paymentId);
        await sim.flushWebhooks();
      } finally {
        sim.configureWebhooks({ url: `${pgb.url}/PGBReturn/toss/webhook/DEMO` });
      }
      await waitForOrder(pgb, orderId, (b) => b.Status === "PAID");
    });

    it("expires an order whose virtual account lapsed without a deposit and tells the host", async () => {
      const { orderId, paymentId } = await waitingAccount("18000");
      sim.expireVirtualAccount(paymentId);
      await sim.flushWebhooks();
      await waitForOrder(pgb, orderId, (b) => b.Status === "EXPIRED");
      assert.deepEqual(
        (await notifications(orderId)).map((n) => n.type),
        ["DEPOSIT_WAITING", "PAYMENT_EXPIRED"],
      );
    });

    it("withdraws an issued virtual account at Toss when a new PayStart supersedes its order's payment", async () => {
      const { orderId, paymentId } = await waitingAccount("25000");
      const again = await hostPost(pgb, "/PGB/PayStart", payStartBody({ OrderId: orderId, NationCode: "KR", PayType: "VIRTUAL_ACCOUNT", TotalPrice: "26000" }));
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.notEqual(again.body.PaymentId, paymentId);
      // PGB expires the superseded checkout in the background.
      for (let i = 0; i < 100 && sim.payment(paymentId)?.status !== "CANCELED"; i++) await sleep(20);
      assert.equal(sim.payment(paymentId)?.status, "CANCELED", "the old account no longer takes deposits");
      const oldPage = await fetch(`${pgb.url}/PGBReturn/toss/checkout/${paymentId}`);
      assert.equal(oldPage.status, 410);
    });

    it("cancels a card payment in parts down to zero through PartialCancel", async () => {
      const { orderId, paymentId } = await paidCard("10000");
      let current = 10000;
      for (const refund of [3000, 3000, 4000]) {
        const r = await hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, refund, current));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        current -= refund;
        assert.equal(r.body.RemainingPrice, String(current));
      }
      assert.equal(sim.payment(paymentId)?.status, "CANCELED");
      assert.equal(sim.payment(paymentId)?.cancels.length, 3);
      await sim.flushWebhooks();
      await waitForOrder(pgb, orderId, (b) => b.Status === "CANCELLED");
      assert.deepEqual(
        (await notifications(orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_CANCELLED"],
      );
    });

    it("refuses to refund a deposited virtual account without a refund account, and refunds it into the account the host names", async () => {
      const { orderId, paymentId } = await waitingAccount("40000");
      sim.deposit(paymentId);
      await waitForOrder(pgb, orderId, (b) => b.Status === "PAID");
      const fullCancel = {
        DbType: "DEMO",
        OrderId: orderId,
        PGType: "TOSS",
        PayType: "VIRTUAL_ACCOUNT",
        CurrentTotalPrice: 40000,
        JoinerId: 42,
        NationCode: "KR",
      };
      const cancelsBefore = sim.effectiveCancels;

      const refused = await hostPost(pgb, "/PGB/FullCancel", fullCancel);
      assert.equal(refused.body.IsSuccess, false);
      assert.equal(refused.body.ErrorCode, "REFUND_ACCOUNT_REQUIRED");
      assert.match(String(refused.body.ErrorMessage), /RefundAccount/);
      assert.equal(sim.effectiveCancels, cancelsBefore);

      const refunded = await hostPost(pgb, "/PGB/FullCancel", {
        ...fullCancel,
        RefundAccount: { Bank: "88", AccountNumber: "110-123-456789", HolderName: "홍길동" },
      });
      assert.equal(refunded.status, 200, JSON.stringify(refunded.body));
      assert.equal(refunded.body.RemainingPrice, "0");
      assert.equal(sim.payment(paymentId)?.status, "CANCELED");
      assert.deepEqual(sim.payment(paymentId)?.cancels.at(-1)?.refundReceiveAccount, { bank: "88", accountNumber: "110123456789", holderName: "홍길동" });
    });

    it("does not fail a payment on a forged fail return: the checkout stays open and the customer's genuine success return is confirmed", async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "9900" });
      const forged = await fetch(`${pgb.url}/PGBReturn/toss/return/${started.paymentId}?code=REJECT_CARD_COMPANY&message=forged&orderId=${started.paymentId}`, {
        redirect: "manual",
      });
      assert.equal(forged.status, 303);
      assert.equal(new URL(forged.headers.get("location")!).searchParams.get("Result"), "PENDING");
      assert.equal((await waitForOrder(pgb, started.orderId, () => true)).Status, "READY");
      assert.deepEqual(await notifications(started.orderId), []);

      const landing = await followReturn(await tossWindow(started.redirectUrl, "approve"));
      assert.equal(landing.searchParams.get("Result"), "PAID");
      await sim.flushWebhooks();
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
    });

    it("a virtual-account refund whose bank transfer Toss reports FAILED: refund FAILED, balance restored, REFUND_FAILED to the host", async () => {
      const { orderId, paymentId } = await waitingAccount("45000");
      sim.deposit(paymentId);
      await waitForOrder(pgb, orderId, (b) => b.Status === "PAID");
      simOptions.vaRefundTransfer = "pending";
      try {
        const cancel = await hostPost(pgb, "/PGB/PartialCancel", {
          DBType: "DEMO",
          OrderId: orderId,
          RefundPrice: "15000",
          CurrentTotalPrice: "45000",
          ModifedTotalPrice: "30000",
          JoinerId: 42,
          NationCode: "KR",
          RefundAccount: { Bank: "88", AccountNumber: "110-123-456789", HolderName: "홍길동" },
        });
        assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
        assert.equal(cancel.body.RefundStatus, "PENDING", "the transfer has not happened yet");
        sim.failRefundTransfer(paymentId, "PARTIAL_FAILED");
        await sim.flushWebhooks();
        const view = await waitForOrder(pgb, orderId, (b) => (b.Refunds as Array<{ Status: string }>).some((r) => r.Status === "FAILED"));
        assert.equal(view.Status, "PAID");
        assert.equal(view.RemainingPrice, "45000");
        const failed = (await notifications(orderId)).find((n) => n.type === "REFUND_FAILED");
        assert.ok(failed, "the host is told");
        assert.equal(failed.payload.RefundId, cancel.body.RefundId);
        assert.equal(failed.payload.RefundPrice, "15000");
        assert.equal(failed.payload.PGCode, "REFUND_PARTIAL_FAILED");
      } finally {
        delete simOptions.vaRefundTransfer;
      }
    });

    it("settles a confirm answered with Toss's 500 after it took effect by reading the payment back, without a second confirm", async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "13000" });
      const location = await tossWindow(started.redirectUrl, "approve");
      const confirmsBefore = sim.effectiveConfirms;
      sim.failNext(1, 500, "FAILED_INTERNAL_SYSTEM_PROCESSING", { path: "/v1/payments/confirm", afterEffect: true });
      const landing = await followReturn(location);
      assert.equal(landing.searchParams.get("Result"), "PAID");
      assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
      await sim.flushWebhooks();
      assert.deepEqual(
        (await notifications(started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
    });

    it("settles a confirm that timed out after Toss applied it by reading the payment back, without a second confirm", async () => {
      const started = await payStart({ PayType: "CARD", TotalPrice: "14000" });
      const location = await tossWindow(started.redirectUrl, "approve");
      const confirmsBefore = sim.effectiveConfirms;
      sim.delayNext(1_500, { path: "/v1/payments/confirm" });
      const landing = await followReturn(location);
      assert.equal(landing.searchParams.get("Result"), "PAID");
      assert.equal(sim.effectiveConfirms - confirmsBefore, 1);
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
    });
  });
}
