/**
 * The newcomer's flow in a real headless Chromium: the host starts a payment, the browser pays on the
 * TEST PG's checkout page (plain HTML forms) and lands back on the host's page; PGB has it PAID with
 * a notification queued. Skipped, saying why, where no Chromium is installed (CI installs it).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { demoTenant, freePort, hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { waitForOrder } from "../support/checkout.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

describe("checkout in a real browser", { skip }, () => {
  let pgb: TestPgb;
  let host: Server;
  let hostOrigin: string;
  let browser: Browser;

  before(async () => {
    const port = await freePort();
    hostOrigin = `http://127.0.0.1:${port}`;
    // The host's order page: it shows what PGB's redirect told it.
    host = createServer((request, response) => {
      const url = new URL(request.url ?? "/", hostOrigin);
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      response.end(`<!doctype html><title>Shop</title><h1 id="done">Order ${url.searchParams.get("OrderId")} ${url.searchParams.get("Result")}</h1>`);
    });
    await new Promise<void>((resolve) => host.listen(port, "127.0.0.1", resolve));
    pgb = await startPgb("pglite", {
      tenants: { DEMO: demoTenant({ notifyUrl: `${hostOrigin}/notify`, redirectOrigins: [hostOrigin] }) },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  after(async () => {
    await browser?.close();
    await pgb?.close();
    await new Promise((resolve) => host?.close(resolve));
  });

  it("pays by card on the TEST checkout page and lands on the host's page with the order PAID", async () => {
    const body = payStartBody({ RedirectUrl: `${hostOrigin}/order/complete`, TotalPrice: "15000" });
    const started = await hostPost(pgb, "/PGB/PayStart", body);
    assert.equal(started.status, 200, JSON.stringify(started.body));

    const page = await browser.newPage();
    await page.goto(String(started.body.RedirectUrl));
    assert.match(await page.textContent(".amount") ?? "", /15000 KRW/);
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
