/**
 * /docs renders the OpenAPI document for people in a real headless Chromium, from files PGB serves
 * itself: every request the page makes goes to PGB (no CDN). The screenshot is written to
 * test-output/docs.png. Skipped, saying why, where no Chromium is installed (CI installs it).
 */
import assert from "node:assert/strict";
import { mkdirSync, statSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { launchChromium, noChromium } from "../support/browser.ts";
import { startPgb, type TestPgb } from "../support/pgb.ts";

describe("API docs in a real browser", { skip: noChromium }, () => {
  let pgb: TestPgb;
  let browser: Browser;

  before(async () => {
    pgb = await startPgb("pglite");
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await pgb?.close();
  });

  it("renders every host operation and the notification webhook at /docs, with nothing fetched from elsewhere", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const foreign: string[] = [];
    await page.route("**/*", async (route) => {
      const url = route.request().url();
      if (url.startsWith(pgb.url) || url.startsWith("data:")) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    await page.goto(`${pgb.url}/docs`);
    await page.waitForSelector(".opblock-summary-path", { timeout: 20_000 });
    const paths = await page.$$eval(".opblock-summary-path", (nodes) => nodes.map((n) => n.textContent?.replace(/\u200b/g, "").trim()));
    for (const path of ["/PGB/PayStart", "/PGB/PartialCancel", "/PGB/FullCancel", "/PGB/Payment", "/PGB/Sync", "/PGB/Notifications/Replay"])
      assert.ok(paths.includes(path), `${path} not shown: ${paths.join(", ")}`);
    assert.match((await page.textContent(".information-container")) ?? "", /Payment Gateway Bridge/);
    assert.match((await page.textContent("body")) ?? "", /Webhooks[\s\S]*notification/);

    // Open FullCancel: the example is the .NET host's body, DbType and an int CurrentTotalPrice.
    await page.click("#operations-Host_API-FullCancel .opblock-summary");
    await page.waitForSelector("#operations-Host_API-FullCancel .body-param__example, #operations-Host_API-FullCancel .microlight");
    const example = (await page.textContent("#operations-Host_API-FullCancel")) ?? "";
    assert.match(example, /"DbType": "SHOP"/);
    assert.match(example, /"CurrentTotalPrice": 10000/);

    mkdirSync("test-output", { recursive: true });
    await page.screenshot({ path: "test-output/docs.png", fullPage: false });
    assert.ok(statSync("test-output/docs.png").size > 10_000, "a screenshot with something on it");
    assert.deepEqual(foreign, [], "the page fetched nothing from outside PGB");
    await page.close();
  });
});
