/**
 * The newcomer's flow in a real headless Chromium: the host starts a payment, the browser pays on the
 * TEST PG's checkout page (plain HTML forms) and lands back on the host's page; PGB has it PAID with
 * a notification queued. Skipped, saying why, where no Chromium is installed (CI installs it).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { launchChromium, noChromium, shopTenant, startShopPage, type ShopPage } from "../support/browser.ts";
import { hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { waitForOrder } from "../support/checkout.ts";

describe("checkout in a real browser", { skip: noChromium }, () => {
  let pgb: TestPgb;
  let shop: ShopPage;
  let hostOrigin: string;
  let browser: Browser;

  before(async () => {
    shop = await startShopPage();
    hostOrigin = shop.origin;
    pgb = await startPgb("pglite", { tenants: { DEMO: shopTenant(hostOrigin) } });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await pgb?.close();
    await shop?.close();
  });

  it("pays by card on the TEST checkout page and lands on the host's page with the order PAID", async () => {
    const body = payStartBody({ RedirectUrl: `${hostOrigin}/order/complete`, TotalPrice: "15000" });
    const started = await hostPost(pgb, "/PGB/PayStart", body);
    assert.equal(started.status, 200, JSON.stringify(started.body));

    const page = await browser.newPage();
    await page.goto(String(started.body.RedirectUrl));
    assert.match((await page.textContent(".amount")) ?? "", /15000 KRW/);
    await Promise.all([page.waitForURL(`${hostOrigin}/order/complete**`), page.click("button[value=pay]")]);
    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get("OrderId"), String(body.OrderId));
    assert.equal(landed.searchParams.get("Result"), "PAID");
    assert.equal(await page.textContent("#done"), `Order ${body.OrderId} PAID`);

    const view = await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
    assert.equal(view.PaidPrice, "15000");
    const queued = await pgb.database.db.selectFrom("notifications").select(["type", "status"]).where("order_id", "=", Number(body.OrderId)).execute();
    assert.deepEqual(queued, [{ type: "PAYMENT_COMPLETED", status: "PENDING" }]);
    await page.close();
  });

  it("issues a virtual account in the browser, and the deposit completes the order", async () => {
    const body = payStartBody({ RedirectUrl: `${hostOrigin}/order/complete`, PayType: "VIRTUAL_ACCOUNT" });
    const started = await hostPost(pgb, "/PGB/PayStart", body);
    const page = await browser.newPage();
    await page.goto(String(started.body.RedirectUrl));
    await Promise.all([page.waitForURL(`${hostOrigin}/order/complete**`), page.click("button[value=issue-account]")]);
    assert.equal(new URL(page.url()).searchParams.get("Result"), "WAITING_FOR_DEPOSIT");
    await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "WAITING_FOR_DEPOSIT");

    await page.goto(String(started.body.RedirectUrl));
    assert.match((await page.textContent("body")) ?? "", /Transfer 15000 KRW to TEST BANK X\d+/);
    await page.click("button[value=deposit]");
    await page.waitForSelector("text=PAID");
    await waitForOrder(pgb, Number(body.OrderId), (b) => b.Status === "PAID");
    await page.close();
  });
});
