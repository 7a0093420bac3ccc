/**
 * End to end through PGB's host API with a tenant routing EASY_PAY in KR to KAKAOPAY and the KakaoPay
 * simulator standing in for open-api.kakaopay.com and the KakaoTalk approval: PayStart → PGB's page
 * (picks PC or mobile) → KakaoPay's page → approve → browser return (PGB approves with its stored tid)
 * → PAID → host notified → partial and full cancel; and the buyer whose return could not be finished
 * (approve answer lost, then the tab closed), settled by the reconciler from order lookup. The
 * buyer's steps run in headless Chromium where it is installed.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Browser } from "playwright-core";
import { kakaoPayConnector } from "../../src/connectors/kakaopay/index.ts";
import { testConnector } from "../../src/connectors/test-pg/index.ts";
import { backends } from "../support/backends.ts";
import { launchChromium, noChromium } from "../support/browser.ts";
import { notificationsOf, waitForOrder } from "../support/checkout.ts";
import { demoTenant, hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { KakaoPaySimulator } from "../simulators/kakaopay/simulator.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";

const SECRET_KEY = "DEVe2eSimulatorSecret0001";
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

for (const backend of backends()) {
  describe(`KakaoPay end to end on ${backend}`, () => {
    let sim: KakaoPaySimulator;
    let pgb: TestPgb;
    let browser: Browser | undefined;
    /** How far KakaoPay's clock runs ahead of PGB's (a tid outliving its 15 minutes). */
    let simAhead = 0;
    let host: Server;
    let hostOrigin: string;

    before(async () => {
      // The host's order page: it shows what PGB's redirect told it.
      host = createServer((request, response) => {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        response.end(`<!doctype html><title>Shop</title><h1 id="done">${new URL(request.url ?? "/", hostOrigin).searchParams.get("Result")}</h1>`);
      });
      await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
      hostOrigin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
      sim = await KakaoPaySimulator.start({ secretKey: SECRET_KEY, now: () => new Date(Date.now() + simAhead) });
      pgb = await startPgb(backend, {
        tenants: {
          DEMO: demoTenant({
            redirectOrigins: [hostOrigin],
            routes: [
              { nationCode: "KR", payType: "EASY_PAY", pg: "KAKAOPAY" },
              { nationCode: "*", payType: "*", pg: "TEST" },
            ],
            pgs: {
              ...(demoTenant().pgs as Record<string, unknown>),
              KAKAOPAY: { secretKey: SECRET_KEY, cid: "TC0ONETIME", apiBase: sim.url, timeoutMs: 1_000 },
            },
          }),
        },
        factories: [testConnector, kakaoPayConnector],
      });
      if (noChromium === false) browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await pgb?.close();
      await sim?.close();
      await new Promise((resolve) => host?.close(resolve));
    });

    async function payStart(total: string): Promise<{ orderId: number; paymentId: string; redirectUrl: string }> {
      const body = payStartBody({
        RedirectUrl: `${hostOrigin}/order/complete`,
        PayType: "EASY_PAY",
        NationCode: "KR",
        TotalPrice: total,
        OrderDescription: "카카오 티셔츠",
      });
      const started = await hostPost(pgb, "/PGB/PayStart", body);
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.equal(started.body.Type, "KAKAOPAY");
      return { orderId: Number(body.OrderId), paymentId: String(started.body.PaymentId), redirectUrl: String(started.body.RedirectUrl) };
    }

    const tidOf = async (paymentId: string): Promise<string> =>
      (await pgb.database.db.selectFrom("payments").select("pg_transaction_id").where("id", "=", paymentId).executeTakeFirstOrThrow()).pg_transaction_id!;

    /** The buyer opens PayStart's URL in Chromium and presses Approve on KakaoPay's page. */
    async function approveInBrowser(redirectUrl: string, options: { closeAfterApprove?: boolean } = {}): Promise<URL | undefined> {
      const page = await browser!.newPage();
      try {
        await page.goto(redirectUrl);
        await page.waitForURL(`${sim.url}/pay/**/info`);
        assert.match((await page.textContent("h1")) ?? "", /PC/, "a desktop browser gets KakaoPay's PC page");
        if (options.closeAfterApprove) {
          // The buyer approves and closes the tab while PGB is still waiting on KakaoPay.
          const approvals = sim.effectiveApprovals;
          await page.click("#approve", { noWaitAfter: true });
          for (let i = 0; i < 200 && sim.effectiveApprovals === approvals; i++) await sleep(20);
          return undefined;
        }
        await Promise.all([page.waitForURL(`${hostOrigin}/**`), page.click("#approve")]);
        return new URL(page.url());
      } finally {
        await page.close();
      }
    }

    it("PayStart answers a PGB page that sends a phone to KakaoPay's mobile page and a desktop to its PC page", async () => {
      const started = await payStart("3000");
      const phone = await fetch(started.redirectUrl, { redirect: "manual", headers: { "user-agent": IPHONE } });
      assert.equal(phone.status, 303);
      assert.match(phone.headers.get("location") ?? "", /\/mInfo$/);
      const desktop = await fetch(started.redirectUrl, { redirect: "manual", headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0" } });
      assert.match(desktop.headers.get("location") ?? "", /\/info$/);
      const payment = sim.payment(await tidOf(started.paymentId))!;
      assert.equal(payment.amount.total, 3000, "ready carries the exact KRW amount");
      assert.ok(payment.partnerOrderId.startsWith(`${started.paymentId}.`), "partner_order_id names PGB's payment, with a keyed tag");
      assert.ok(
        !payment.partnerOrderId.includes(String(started.orderId)) && !payment.partnerUserId.includes("42"),
        "neither partner id is the host's OrderId or JoinerId",
      );
      const expires = await pgb.database.db
        .selectFrom("payments")
        .select(["expires_at", "created_at"])
        .where("id", "=", started.paymentId)
        .executeTakeFirstOrThrow();
      assert.ok(
        new Date(expires.expires_at).getTime() - new Date(expires.created_at).getTime() <= 15 * 60_000 + 1_000,
        "the checkout lives no longer than KakaoPay's tid",
      );
    });

    it("pays in Chromium: approve → return → PAID → host notified; then a partial and a full cancel", { skip: noChromium }, async () => {
      const started = await payStart("10000");
      const landing = await approveInBrowser(started.redirectUrl);
      assert.equal(landing?.searchParams.get("Result"), "PAID");
      assert.equal(landing?.searchParams.get("OrderId"), String(started.orderId));
      const tid = await tidOf(started.paymentId);
      assert.equal(sim.payment(tid)?.status, "SUCCESS_PAYMENT");
      const view = await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.equal(view.PaidPrice, "10000");
      const sent = await notificationsOf(pgb, started.orderId);
      assert.deepEqual(
        sent.map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
      assert.equal(sent[0]!.payload.PGType, "KAKAOPAY");
      assert.equal(sent[0]!.payload.PGTransactionId, tid);

      const partial = await hostPost(pgb, "/PGB/PartialCancel", {
        DBType: "DEMO",
        OrderId: started.orderId,
        RefundPrice: "4000",
        CurrentTotalPrice: "10000",
        ModifedTotalPrice: "6000",
        JoinerId: 42,
        NationCode: "KR",
      });
      assert.equal(partial.status, 200, JSON.stringify(partial.body));
      assert.equal(partial.body.RemainingPrice, "6000");
      assert.equal(sim.payment(tid)?.status, "PART_CANCEL_PAYMENT");
      const full = await hostPost(pgb, "/PGB/FullCancel", {
        DBType: "DEMO",
        OrderId: started.orderId,
        PGType: "KAKAOPAY",
        PayType: "EASY_PAY",
        CurrentTotalPrice: 6000,
        JoinerId: 42,
        NationCode: "KR",
      });
      assert.equal(full.status, 200, JSON.stringify(full.body));
      assert.equal(full.body.RemainingPrice, "0");
      const cancels = sim.payment(tid)!.actions.filter((a) => a.type === "CANCEL");
      assert.deepEqual(
        cancels.map((a) => a.amount),
        [4000, 6000],
      );
      assert.equal(sim.payment(tid)?.status, "CANCEL_PAYMENT");
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "CANCELLED");
      assert.deepEqual(
        (await notificationsOf(pgb, started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_CANCELLED"],
      );
    });

    it("settles by the reconciler a buyer who approved and closed the tab while the approve answer was lost", { skip: noChromium }, async () => {
      const started = await payStart("7000");
      // KakaoPay approves, then the connection drops; order lookup is down for that moment too.
      sim.dropNext({ path: "/approve", afterEffect: true });
      sim.failNext(1, 503, { path: "/order" });
      await approveInBrowser(started.redirectUrl, { closeAfterApprove: true });
      const tid = await tidOf(started.paymentId);
      // PGB's return gave up (approve answer lost, order lookup down) before the tab closed.
      for (let i = 0; i < 200 && !sim.requests.some((r) => r.path.endsWith("/order") && r.status === 503); i++) await sleep(20);
      assert.equal(sim.payment(tid)?.status, "SUCCESS_PAYMENT", "KakaoPay took the money");
      assert.equal((await waitForOrder(pgb, started.orderId, (b) => b.Status !== undefined)).Status, "READY", "PGB does not know yet");
      assert.deepEqual(await notificationsOf(pgb, started.orderId), []);

      const report = await pgb.reconciler.checkPayment(brand<PaymentId>(started.paymentId));
      assert.equal(report.result, "paid", JSON.stringify(report));
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "PAID");
      assert.deepEqual(
        (await notificationsOf(pgb, started.orderId)).map((n) => n.type),
        ["PAYMENT_COMPLETED"],
      );
      assert.equal(sim.payment(tid)?.actions.filter((a) => a.type === "PAYMENT").length, 1, "approved once");
    });

    it("never approves from a forged return: a wrong pg_token leaves the payment READY and KakaoPay unapproved", async () => {
      const started = await payStart("5000");
      const response = await fetch(`${pgb.url}/PGBReturn/kakaopay/return/${started.paymentId}?pg_token=forged0123`, { redirect: "manual" });
      assert.equal(response.status, 303);
      assert.equal(new URL(response.headers.get("location")!).searchParams.get("Result"), "PENDING");
      assert.equal(sim.payment(await tidOf(started.paymentId))?.approvedAt, null);
      assert.equal((await waitForOrder(pgb, started.orderId, (b) => b.Status !== undefined)).Status, "READY");
    });

    it("a buyer who cancels on KakaoPay's page ends FAILED, as order lookup says, not as the URL says", async () => {
      const started = await payStart("5000");
      const toKakao = await fetch(started.redirectUrl, { redirect: "manual" });
      const pageUrl = new URL(toKakao.headers.get("location")!);
      const cancelled = await fetch(new URL(pageUrl.pathname.replace(/\/info$/, "/action"), sim.url), {
        method: "POST",
        redirect: "manual",
        body: new URLSearchParams({ decision: "cancel" }),
      });
      const back = await fetch(cancelled.headers.get("location")!, { redirect: "manual" });
      assert.equal(new URL(back.headers.get("location")!).searchParams.get("Result"), "FAILED");
      assert.equal(sim.payment(await tidOf(started.paymentId))?.status, "QUIT_PAYMENT");
    });

    it("ends a ready the buyer never finished once KakaoPay's tid has died: the reconciler reads order lookup", async () => {
      const started = await payStart("6000");
      const tid = await tidOf(started.paymentId);
      sim.authorize(tid); // approved in KakaoTalk, but the browser never came back with the pg_token
      simAhead = 16 * 60_000;
      try {
        await pgb.database.db
          .updateTable("payments")
          .set({ expires_at: new Date(Date.now() - 1_000) })
          .where("id", "=", started.paymentId)
          .execute();
        const report = await pgb.reconciler.checkPayment(brand<PaymentId>(started.paymentId));
        assert.equal(report.result, "failed", JSON.stringify(report));
      } finally {
        simAhead = 0;
      }
      await waitForOrder(pgb, started.orderId, (b) => b.Status === "FAILED");
      assert.equal(sim.payment(tid)?.approvedAt, null, "nothing was approved");
      assert.deepEqual(
        (await notificationsOf(pgb, started.orderId)).map((n) => n.type),
        ["PAYMENT_FAILED"],
      );
    });
  });
}
