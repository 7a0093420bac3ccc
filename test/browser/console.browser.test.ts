/**
 * The operator console in a real headless Chromium, one browser context per operator: each role
 * signs in; the search box finds a payment by every key; the payment page tells the whole story of a
 * real TEST PG flow (paid, partly refunded by the host, its notification dead and replayed by
 * support); a viewer sees no action and is refused when forcing one; finance refunds at the TEST PG
 * and the refund shows in the audit log and the timeline; a late capture's alert is acknowledged;
 * the overview shows the seeded figures. Screenshots go to test-output/console/.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Kysely } from "kysely";
import type { Browser, Page } from "playwright-core";
import { startWorkers, type RunningWorkers } from "../../src/workers/index.ts";
import { launchChromium, noChromium } from "../support/browser.ts";
import { followReturn, paidOrder, pressButton } from "../support/checkout.ts";
import { demoTenant, hostPost, payStartBody, type TestPgb } from "../support/pgb.ts";
import { testPgLedger } from "../support/test-pg-ledger.ts";
import { eventually, FakeHost, FAST, merge } from "../workers/support.ts";
import { createOperators, PASSWORD, seedOverview, startConsolePgb } from "../console/support.ts";
import type { Database } from "../../src/storage/schema.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";

const SHOTS = "test-output/console";

describe("operator console in a real browser", { skip: noChromium }, () => {
  let pgb: TestPgb;
  let db: Kysely<Database>;
  let host: FakeHost;
  let workers: RunningWorkers;
  let browser: Browser;
  let seeded: Awaited<ReturnType<typeof seedOverview>>;
  let story: { orderId: number; paymentId: string };

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    host = new FakeHost();
    await host.up();
    host.mode = "fail";
    pgb = await startConsolePgb("pglite", {
      tenants: {
        DEMO: demoTenant({ notifyUrl: host.url }),
        OTHER: demoTenant({ apiKeys: ["key-other-1"] }),
        // Its PG's webhooks are lost, so only the customer's return tells PGB about a payment.
        QUIET: demoTenant({
          apiKeys: ["key-quiet-1"],
          notifyUrl: host.url,
          pgs: { TEST: { webhookSecret: "whsec_cXVpZXQtdGVzdC1wZy1zZWNyZXQtMDEyMw==", webhookDelivery: "drop" } },
        }),
      },
    });
    db = pgb.database.db;
    await createOperators(pgb);
    seeded = await seedOverview(db, "OTHER");
    // Notifications give up after two attempts; the reconciler stays out of the way of the seeded rows.
    workers = await startWorkers(pgb, merge(FAST, { notifications: { maxAttempts: 2 }, reconciler: { intervalMs: 3_600_000 } }));
    browser = await launchChromium();

    // The story: paid, its notification dead (the host is down), a partial refund by the host.
    story = await paidOrder(pgb, { JoinerId: 4242 });
    await eventually(
      "the completion notification is dead",
      async () =>
        (
          await db
            .selectFrom("notifications")
            .select("status")
            .where("payment_id", "=", story.paymentId)
            .where("type", "=", "PAYMENT_COMPLETED")
            .executeTakeFirst()
        )?.status === "DEAD",
    );
    const cancel = await hostPost(pgb, "/PGB/PartialCancel", {
      DBType: "DEMO",
      OrderId: story.orderId,
      RefundPrice: "5000",
      CurrentTotalPrice: "15000",
      ModifedTotalPrice: "10000",
      JoinerId: 4242,
      NationCode: "KR",
    });
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    host.mode = "ok";
  });

  after(async () => {
    await browser?.close();
    await workers?.stop();
    await pgb?.close();
    await host?.down();
  });

  async function signIn(username: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${pgb.url}/console`);
    assert.match(page.url(), /\/console\/login/);
    await page.fill("input[name=username]", username);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(/\/console\/payments/), page.click("button[type=submit]")]);
    assert.match((await page.textContent("[data-testid=operator]")) ?? "", new RegExp(`^${username} `));
    return page;
  }

  async function search(page: Page, q: string): Promise<string[]> {
    await page.goto(`${pgb.url}/console/payments`);
    await page.fill("input[name=q]", q);
    await Promise.all([page.waitForURL(/q=/), page.click("form[role=search] button[type=submit]")]);
    return page.$$eval("[data-testid=results] tbody tr td:first-child a", (links) => links.map((a) => a.textContent ?? ""));
  }

  it("shows the sign-in page and refuses a wrong password", async () => {
    const page = await browser.newPage();
    await page.goto(`${pgb.url}/console/login`);
    await page.screenshot({ path: `${SHOTS}/login.png` });
    await page.fill("input[name=username]", "admin");
    await page.fill("input[name=password]", "wrong-password-here");
    await page.click("button[type=submit]");
    assert.match((await page.textContent("[role=alert]")) ?? "", /Wrong username or password/);
    await page.close();
  });

  it("finds the payment by each key from the search box (admin)", async () => {
    const page = await signIn("admin");
    const refund = await db
      .selectFrom("money_movements")
      .select(["id", "pg_reference"])
      .where("payment_id", "=", story.paymentId)
      .where("kind", "=", "REFUND")
      .executeTakeFirstOrThrow();
    const payment = await db.selectFrom("payments").select(["pg_transaction_id"]).where("id", "=", story.paymentId).executeTakeFirstOrThrow();
    assert.deepEqual(await search(page, String(story.orderId)), [story.paymentId], "OrderId");
    assert.deepEqual(await search(page, story.paymentId), [story.paymentId], "PaymentId");
    assert.deepEqual(await search(page, payment.pg_transaction_id!), [story.paymentId], "PG transaction id");
    assert.deepEqual(await search(page, refund.id), [story.paymentId], "refund id");
    assert.deepEqual(await search(page, refund.pg_reference!), [story.paymentId], "PG refund id");
    assert.deepEqual(await search(page, "4242"), [story.paymentId], "JoinerId");

    const va = payStartBody({ PayType: "VIRTUAL_ACCOUNT" });
    const started = await hostPost(pgb, "/PGB/PayStart", va);
    await followReturn(pgb, await pressButton(String(started.body.RedirectUrl), "issue-account"));
    const account = await eventually(
      "the account is recorded",
      async () =>
        (
          (await db.selectFrom("payments").select("pg_details").where("id", "=", String(started.body.PaymentId)).executeTakeFirst())?.pg_details as {
            virtualAccount?: { accountNumber: string };
          } | null
        )?.virtualAccount?.accountNumber,
    );
    assert.deepEqual(await search(page, account), [String(started.body.PaymentId)], "virtual account number");

    await page.goto(`${pgb.url}/console/payments?tenant=OTHER&status=PAID`);
    const rows = await page.$$eval("[data-testid=results] tbody tr", (trs) => trs.length);
    assert.equal(rows, seeded.payments.filter((p) => p.status === "PAID").length);
    await page.screenshot({ path: `${SHOTS}/search.png`, fullPage: true });
    await page.context().close();
  });

  it("lets support replay the dead notification and shows the payment's whole story", async () => {
    const page = await signIn("support");
    await page.goto(`${pgb.url}/console/payments/${story.paymentId}`);
    assert.equal(await page.textContent("[data-testid=status]"), "PARTIALLY_CANCELLED");
    assert.equal(await page.textContent("[data-testid=paid]"), "15000 KRW");
    assert.equal(await page.textContent("[data-testid=refunded]"), "5000 KRW");
    assert.equal(await page.textContent("[data-testid=remaining]"), "10000 KRW");
    assert.equal(await page.locator("[data-action=refund]").count(), 0, "support does not refund");
    const replay = page.locator("form:has([data-action=replay])").first();
    await replay.locator("input[name=confirm]").check();
    await Promise.all([page.waitForURL(`**/console/payments/${story.paymentId}`), replay.locator("button").click()]);
    assert.match((await page.textContent(".flash.ok")) ?? "", /queued again/);
    await eventually("every notification of the order is delivered", async () => {
      const rows = await db.selectFrom("notifications").select("status").where("payment_id", "=", story.paymentId).execute();
      return rows.length === 2 && rows.every((r) => r.status === "DELIVERED");
    });
    await page.reload();
    const timeline = (await page.textContent("[data-testid=timeline]")) ?? "";
    for (const expected of [
      /PAID/,
      /REFUND_REQUESTED/,
      /PARTIALLY_CANCELLED/,
      /PAYMENT_COMPLETED/,
      /attempt 1: RETRY/,
      /attempt 2: DEAD/,
      /DELIVERED/,
      /refund 5000 KRW SUCCEEDED/,
      /NOTIFICATION_DEAD/,
      /notification\.replay/,
    ]) {
      assert.match(timeline, expected);
    }
    await page.screenshot({ path: `${SHOTS}/payment.png`, fullPage: true });

    await page.context().close();
  });

  it("shows a viewer no action and refuses one forced on the server", async () => {
    const page = await signIn("viewer");
    await page.goto(`${pgb.url}/console/payments/${story.paymentId}`);
    assert.equal(await page.locator("[data-action]").count(), 0);
    assert.equal(await page.locator("[data-testid=actions]").count(), 0);
    const csrf = await page.inputValue("form[action='/console/logout'] input[name=_csrf]");
    const forced = await page.context().request.post(`${pgb.url}/console/payments/${story.paymentId}/refund`, {
      form: { _csrf: csrf, amount: "1000", reason: "forced", confirm: "yes", current: "10000", idempotencyKey: `console-${crypto.randomUUID()}` },
      maxRedirects: 0,
    });
    assert.equal(forced.status(), 403);
    const refunds = await db.selectFrom("money_movements").select("id").where("payment_id", "=", story.paymentId).where("kind", "=", "REFUND").execute();
    assert.equal(refunds.length, 1, "still only the host's refund");
    await page.context().close();
  });

  it("lets finance refund at the TEST PG, recorded in the audit log and the timeline", async () => {
    const page = await signIn("finance");
    await page.goto(`${pgb.url}/console/payments/${story.paymentId}`);
    const form = page.locator("form:has([data-action=refund])");
    await form.locator("input[name=amount]").fill("2000");
    await form.locator("input[name=reason]").fill("damaged item");
    await form.locator("input[name=confirm]").check();
    await Promise.all([page.waitForURL(`**/console/payments/${story.paymentId}`), form.locator("button").click()]);
    assert.match((await page.textContent(".flash.ok")) ?? "", /Refunded 2000 KRW \(SUCCEEDED\); remaining 8000 KRW/);
    assert.equal(await page.textContent("[data-testid=remaining]"), "8000 KRW");
    await page.setViewportSize({ width: 1000, height: 860 });
    await page.screenshot({ path: `${SHOTS}/payment-finance.png` });
    const atPg = await testPgLedger(db).refunds();
    const mine = await db
      .selectFrom("money_movements")
      .select(["id"])
      .where("payment_id", "=", story.paymentId)
      .where("kind", "=", "REFUND")
      .where("amount", "=", "2000")
      .executeTakeFirstOrThrow();
    assert.ok(
      atPg.some((r) => r.amount === 2000n && r.idempotencyKey === `DEMO:${mine.id}`),
      "the TEST PG holds the refund under PGB's idempotency key",
    );
    const timeline = (await page.textContent("[data-testid=timeline]")) ?? "";
    assert.match(timeline, /refund 2000 KRW SUCCEEDED/);
    assert.match(timeline, /finance: payment\.refund ok/);
    const history = await db
      .selectFrom("payment_events")
      .select(["event", "source"])
      .where("payment_id", "=", story.paymentId)
      .where("source", "=", "OPERATOR")
      .execute();
    assert.deepEqual(history.map((h) => h.event).sort(), ["REFUNDED", "REFUND_REQUESTED"]);
    await page.goto(`${pgb.url}/console/audit`);
    const audit = (await page.textContent("[data-testid=audit] tbody tr:first-child")) ?? "";
    assert.match(audit, /finance.*payment\.refund.*ok.*DEMO/s);
    assert.match(audit, /damaged item/);
    await page.screenshot({ path: `${SHOTS}/audit.png`, fullPage: true });
    await page.context().close();
  });

  it("raises an alert when a closed attempt is captured late, and support acknowledges it", async () => {
    const body = payStartBody({ DBType: "QUIET" });
    const first = await hostPost(pgb, "/PGB/PayStart", body, { key: "key-quiet-1" });
    await pressButton(String(first.body.RedirectUrl), "pay"); // paid at the PG; its webhook is lost, its customer never returns
    const second = await hostPost(pgb, "/PGB/PayStart", { ...body, TotalPrice: "16000" }, { key: "key-quiet-1" });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    // The reconciler closes superseded checkouts at the PG; this one was paid there first.
    const check = await pgb.reconciler.checkSuperseded(brand<PaymentId>(String(first.body.PaymentId)));
    assert.equal(check.result, "late_payment");
    const page = await signIn("support");
    await page.goto(`${pgb.url}/console/alerts`);
    assert.equal(await page.textContent("[data-testid=alert-badge]"), String(await openAlerts()));
    const row = page.locator(`tr:has-text("LATE_PAYMENT"):has-text("${String(first.body.PaymentId)}")`);
    assert.equal(await row.count(), 1);
    await page.screenshot({ path: `${SHOTS}/alerts.png`, fullPage: true });
    const before = await openAlerts();
    await row.locator("input[name=note]").fill("refunded the customer at the PG");
    await Promise.all([page.waitForURL("**/console/alerts"), row.locator("button[data-action=ack]").click()]);
    assert.match((await page.textContent(".flash.ok")) ?? "", /LATE_PAYMENT acknowledged/);
    assert.equal(await page.textContent("[data-testid=alert-badge]"), String(before - 1));
    const alert = await db.selectFrom("alerts").selectAll().where("type", "=", "LATE_PAYMENT").executeTakeFirstOrThrow();
    assert.equal(alert.payment_id, String(first.body.PaymentId));
    assert.equal(alert.acknowledged_by, "support");
    assert.equal(alert.ack_note, "refunded the customer at the PG");
    await page.context().close();
  });

  it("shows the seeded figures on the overview to an operator limited to that tenant", async () => {
    const page = await signIn("limited");
    await page.goto(`${pgb.url}/console/payments/${story.paymentId}`);
    assert.match((await page.textContent("[role=alert]")) ?? "", /not one you may see/);
    await page.goto(`${pgb.url}/console/overview?hours=24`);
    await page.waitForFunction(() => (document.getElementById("chart-hourly") as HTMLCanvasElement | null)?.width !== 300);
    const counted = seeded.payments.filter((p) => p.status !== "SUPERSEDED");
    for (const pg of ["STRIPE", "TEST", "TOSS"]) {
      const mine = counted.filter((p) => p.pg === pg);
      const cells = await page.$$eval(`[data-testid=per-pg] tr[data-pg=${pg}] td`, (tds) => tds.map((td) => td.textContent));
      assert.deepEqual(
        cells.slice(1, 4),
        [String(mine.length), String(mine.filter((p) => p.paidAt).length), String(mine.filter((p) => p.status === "FAILED").length)],
        pg,
      );
    }
    const refunds = seeded.payments.flatMap((p) => p.refunds).filter((r) => r.status === "SUCCEEDED");
    assert.equal(await page.textContent("[data-testid=refunds] td[data-k=total]"), `${refunds.reduce((s, r) => s + r.amount, 0n)} KRW`);
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });
    await page.goto(`${pgb.url}/console/overview?hours=24&lang=ko`);
    assert.match((await page.textContent("h1")) ?? "", /개요/);
    await page.context().close();
  });

  async function openAlerts(): Promise<number> {
    const row = await db
      .selectFrom("alerts")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("acknowledged_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
});
