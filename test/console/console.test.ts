/**
 * The console over plain HTTP on both databases: refusals (wrong password, expired session, missing
 * CSRF token, a tenant-limited operator, a role without the right, the sign-in rate limit), the
 * search by every key with filters and pages, the overview's figures against seeded data, and the
 * alerts inbox fed by raiseAlert. The browser test (test/browser/console.browser.test.ts) shows the
 * pages themselves.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Kysely } from "kysely";
import { raiseAlert } from "../../src/core/alerts.ts";
import { overview, searchPayments } from "../../src/storage/console-queries.ts";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { createLogger } from "../../src/app.ts";
import { hostPost, payStartBody, type TestPgb } from "../support/pgb.ts";
import { ConsoleClient, createOperators, seedOverview, startConsolePgb, type SeededPayment } from "./support.ts";
import type { Database } from "../../src/storage/schema.ts";

for (const backend of backends()) {
  describe(`console (${backend})`, () => {
    let pgb: TestPgb;
    let db: Kysely<Database>;
    let seeded: Awaited<ReturnType<typeof seedOverview>>;
    const now = new Date();

    before(async () => {
      pgb = await startConsolePgb(backend);
      db = pgb.database.db;
      await createOperators(pgb);
      seeded = await seedOverview(db, "OTHER", now);
    });
    after(async () => pgb?.close());

    it("signs in with the right password only, and sends the signed-out to the sign-in page", async () => {
      const client = new ConsoleClient(pgb.url);
      const anonymous = await client.get("/console/payments");
      assert.equal(anonymous.status, 303);
      assert.match(anonymous.location ?? "", /^\/console\/login/);
      const wrong = await client.login("admin", "not-the-password");
      assert.equal(wrong.status, 401);
      assert.match(wrong.html, /Wrong username or password/);
      assert.equal((await client.login("nobody", "whatever-password")).status, 401);
      assert.equal((await client.get("/console/payments")).status, 303, "a failed sign-in opens nothing");
      const ok = await client.login("admin");
      assert.equal(ok.status, 303);
      const cookie =
        (
          await fetch(`${pgb.url}/console/login`, {
            method: "POST",
            headers: { origin: pgb.url, "content-type": "application/x-www-form-urlencoded" },
            body: "username=admin&password=operator-password-123",
            redirect: "manual",
          })
        ).headers.get("set-cookie") ?? "";
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Lax/i);
      assert.doesNotMatch(cookie, /Secure/i, "publicUrl is http here; an https publicUrl makes it Secure");
      assert.equal((await client.get("/console/payments")).status, 200);
      const refused = await db.selectFrom("audit_log").select(["operator", "outcome"]).where("action", "=", "login").where("outcome", "=", "refused").execute();
      assert.deepEqual(
        refused.map((r) => r.operator),
        ["admin"],
        "a made-up name is not stored",
      );
    });

    it("ends a session once it has expired", async () => {
      const client = new ConsoleClient(pgb.url);
      await client.login("viewer");
      assert.equal((await client.get("/console/payments")).status, 200);
      await db
        .updateTable("operator_sessions")
        .set({ expires_at: new Date(Date.now() - 1000) })
        .execute();
      const expired = await client.get("/console/payments");
      assert.equal(expired.status, 303);
      assert.match(expired.location ?? "", /^\/console\/login/);
    });

    it("refuses an action without its CSRF token, and a sign-in posted from another site", async () => {
      const { orderId, paymentId } = await paidOrder(pgb);
      const client = new ConsoleClient(pgb.url);
      await client.login("admin");
      const forged = await client.request("POST", `/console/payments/${paymentId}/refund`, {
        amount: "1000",
        reason: "forged",
        confirm: "yes",
        current: "15000",
        idempotencyKey: `console-${crypto.randomUUID()}`,
      });
      assert.equal(forged.status, 403);
      const wrongToken = await client.request("POST", `/console/payments/${paymentId}/refund`, {
        _csrf: "not-a-token",
        amount: "1000",
        reason: "forged",
        confirm: "yes",
        current: "15000",
        idempotencyKey: `console-${crypto.randomUUID()}`,
      });
      assert.equal(wrongToken.status, 403);
      const refunds = await db.selectFrom("money_movements").select("id").where("payment_id", "=", paymentId).where("kind", "=", "REFUND").execute();
      assert.deepEqual(refunds, [], `order ${orderId} was not refunded`);
      const crossSite = await fetch(`${pgb.url}/console/login`, {
        method: "POST",
        headers: { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
        body: "username=admin&password=operator-password-123",
        redirect: "manual",
      });
      assert.equal(crossSite.status, 403);
    });

    it("refuses a viewer's forced action and records it; a tenant-limited operator cannot open another tenant's payment", async () => {
      const { paymentId } = await paidOrder(pgb);
      const viewer = new ConsoleClient(pgb.url);
      await viewer.login("viewer");
      const pageHtml = (await viewer.get(`/console/payments/${paymentId}`)).html;
      assert.doesNotMatch(pageHtml, /data-action=/, "no action buttons for a viewer");
      const forced = await viewer.act(`/console/payments/${paymentId}`, `/console/payments/${paymentId}/refund`, {
        amount: "1000",
        reason: "forced",
        confirm: "yes",
        current: "15000",
        idempotencyKey: `console-${crypto.randomUUID()}`,
      });
      assert.equal(forced.status, 403);
      const forcedSync = await viewer.act(`/console/payments/${paymentId}`, `/console/payments/${paymentId}/sync`, { confirm: "yes" });
      assert.equal(forcedSync.status, 403);
      const audit = await db.selectFrom("audit_log").select(["operator", "action", "outcome"]).where("payment_id", "=", paymentId).orderBy("id").execute();
      assert.deepEqual(audit, [
        { operator: "viewer", action: "payment.refund", outcome: "forbidden" },
        { operator: "viewer", action: "payment.sync", outcome: "forbidden" },
      ]);
      assert.equal((await db.selectFrom("money_movements").select("id").where("payment_id", "=", paymentId).where("kind", "=", "REFUND").execute()).length, 0);

      const limited = new ConsoleClient(pgb.url);
      await limited.login("limited");
      assert.equal((await limited.get(`/console/payments/${paymentId}`)).status, 404, "a DEMO payment for an OTHER-only operator");
      const action = await limited.act(`/console/payments/${seeded.payments[0]!.id}`, `/console/payments/${paymentId}/refund`, {
        amount: "1000",
        reason: "x",
        confirm: "yes",
        current: "15000",
        idempotencyKey: `console-${crypto.randomUUID()}`,
      });
      assert.equal(action.status, 404);
      assert.equal((await limited.get(`/console/payments/${seeded.payments[0]!.id}`)).status, 200);
      const listed = await limited.get(`/console/payments?q=${paymentId}`);
      assert.doesNotMatch(listed.html, new RegExp(`href="/console/payments/${paymentId}"`));
      assert.match(listed.html, /No payments match/);
    });

    it("refunds all through the host's cancel rules: a stale form and a double submit refund nothing more", async () => {
      const { paymentId } = await paidOrder(pgb);
      const finance = new ConsoleClient(pgb.url);
      await finance.login("finance");
      const page = `/console/payments/${paymentId}`;
      const key = `console-${crypto.randomUUID()}`;
      const stale = await finance.act(page, `${page}/refund`, {
        amount: "",
        reason: "stale",
        confirm: "yes",
        current: "14000",
        idempotencyKey: `console-${crypto.randomUUID()}`,
      });
      assert.equal(stale.status, 303);
      assert.match((await finance.get(page)).html, /Refund refused: STALE_CURRENT_PRICE/);
      const unconfirmed = await finance.act(page, `${page}/refund`, { amount: "", reason: "no tick", current: "15000", idempotencyKey: key });
      assert.equal(unconfirmed.status, 400);
      const full = await finance.act(page, `${page}/refund`, { amount: "", reason: "order cancelled", confirm: "yes", current: "15000", idempotencyKey: key });
      assert.equal(full.status, 303);
      const after = await finance.get(page);
      assert.match(after.html, /Refunded 15000 KRW \(SUCCEEDED\); remaining 0 KRW/);
      assert.match(after.html, /data-testid="status">CANCELLED</);
      assert.doesNotMatch(after.html, /data-action="refund"/, "nothing left to refund");
      const again = await finance.act(page, `${page}/refund`, { amount: "", reason: "order cancelled", confirm: "yes", current: "15000", idempotencyKey: key });
      assert.equal(again.status, 303);
      assert.match((await finance.get(page)).html, /already done/);
      const refunds = await db
        .selectFrom("money_movements")
        .select(["amount", "status"])
        .where("payment_id", "=", paymentId)
        .where("kind", "=", "REFUND")
        .execute();
      assert.deepEqual(
        refunds.map((r) => [String(r.amount), r.status]),
        [["15000", "SUCCEEDED"]],
      );
      const notified = await db.selectFrom("notifications").select("type").where("payment_id", "=", paymentId).orderBy("seq").execute();
      assert.deepEqual(
        notified.map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_CANCELLED"],
      );
    });

    it("lets support expire an open checkout at the PG and sync one, each in the audit log", async () => {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody());
      const paymentId = String(started.body.PaymentId);
      const support = new ConsoleClient(pgb.url);
      await support.login("support");
      const page = `/console/payments/${paymentId}`;
      assert.equal((await support.act(page, `${page}/sync`, { confirm: "yes" })).status, 303);
      assert.match((await support.get(page)).html, /Synced with the PG: pay_\w+: unchanged/);
      assert.equal((await support.act(page, `${page}/expire`, { confirm: "yes" })).status, 303);
      const after = await support.get(page);
      assert.match(after.html, /Expiry: expired, now EXPIRED/);
      assert.match(after.html, /EXPIRY_REQUESTED/);
      const checkout = await fetch(String(started.body.RedirectUrl));
      assert.doesNotMatch(await checkout.text(), /value="pay"/, "the TEST PG no longer offers to pay");
      const audit = await db
        .selectFrom("audit_log")
        .select(["action", "outcome", "before", "after"])
        .where("payment_id", "=", paymentId)
        .orderBy("id")
        .execute();
      assert.deepEqual(
        audit.map((a) => [a.action, a.outcome]),
        [
          ["payment.sync", "ok"],
          ["payment.expire", "ok"],
        ],
      );
      assert.deepEqual([(audit[1]!.before as { status: string }).status, (audit[1]!.after as { status: string }).status], ["READY", "EXPIRED"]);
    });

    it("finds a payment by each search key, filters and pages", async () => {
      const all = { allowedTenants: null, limit: 50 };
      const pay = seeded.payments.find((p) => p.status === "PARTIALLY_CANCELLED")!;
      const va = seeded.payments.find((p) => p.accountNumber !== null)!;
      const ids = async (q: string) => (await searchPayments(db, { ...all, q })).rows.map((r) => r.id).sort();
      assert.deepEqual(await ids(String(pay.orderId)), [pay.id], "OrderId");
      assert.deepEqual(await ids(pay.id), [pay.id], "PaymentId");
      assert.deepEqual(await ids(pay.pgTransactionId), [pay.id], "PG transaction id");
      assert.deepEqual(await ids(pay.refunds[0]!.id), [pay.id], "refund id");
      assert.deepEqual(await ids(pay.refunds[0]!.pgReference), [pay.id], "PG refund id");
      assert.deepEqual(await ids(va.accountNumber!), [va.id], "virtual account");
      const joiner = seeded.payments
        .filter((p) => p.joinerId === 9_003)
        .map((p) => p.id)
        .sort();
      assert.deepEqual(await ids("9003"), joiner, "JoinerId");
      assert.deepEqual(await ids("no-such-thing"), []);

      const failedToss = (await searchPayments(db, { ...all, tenant: "OTHER", pg: "TOSS", status: "FAILED" })).rows.map((r) => r.id).sort();
      assert.deepEqual(
        failedToss,
        seeded.payments
          .filter((p) => p.pg === "TOSS" && p.status === "FAILED")
          .map((p) => p.id)
          .sort(),
      );
      const from = new Date(now.getTime() - 5 * 3_600_000);
      const recent = (await searchPayments(db, { ...all, tenant: "OTHER", from })).rows.map((r) => r.id).sort();
      assert.deepEqual(
        recent,
        seeded.payments
          .filter((p) => p.createdAt >= from)
          .map((p) => p.id)
          .sort(),
      );

      const seen: string[] = [];
      let afterCursor: { createdAt: Date; id: string } | undefined;
      do {
        const page = await searchPayments(db, { allowedTenants: ["OTHER"], limit: 7, after: afterCursor });
        seen.push(...page.rows.map((r) => r.id));
        afterCursor = page.next;
      } while (afterCursor);
      assert.deepEqual([...seen].sort(), seeded.payments.map((p) => p.id).sort(), "pages cover every payment once");
      const expectedOrder = [...seeded.payments].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)).map((p) => p.id);
      assert.deepEqual(seen, expectedOrder, "newest first");

      const client = new ConsoleClient(pgb.url);
      await client.login("support");
      const page = await client.get(`/console/payments?q=${encodeURIComponent(va.accountNumber!)}`);
      assert.match(page.html, new RegExp(`href="/console/payments/${va.id}"`));
    });

    it("shows overview figures equal to the seeded data", async () => {
      const from = new Date(now.getTime() - 24 * 3_600_000);
      const to = new Date(now.getTime() + 3_600_000);
      const data = await overview(db, { from, to, allowedTenants: ["OTHER"] });
      const counted = seeded.payments.filter((p) => p.status !== "SUPERSEDED");
      for (const pg of ["STRIPE", "TEST", "TOSS"]) {
        const mine = counted.filter((p) => p.pg === pg);
        const row = data.perPg.find((r) => r.pg === pg)!;
        assert.deepEqual(
          { started: row.started, paid: row.paid, failed: row.failed },
          { started: mine.length, paid: mine.filter((p) => p.paidAt).length, failed: mine.filter((p) => p.status === "FAILED").length },
          pg,
        );
      }
      const hourKey = (d: Date) => `${d.toISOString().slice(0, 13)}:00Z`;
      const hourly = new Map<string, number>();
      for (const p of counted) hourly.set(`${hourKey(p.createdAt)} ${p.pg}`, (hourly.get(`${hourKey(p.createdAt)} ${p.pg}`) ?? 0) + 1);
      assert.deepEqual(new Map(data.hourly.map((r) => [`${r.hour} ${r.pg}`, r.started])), hourly);
      const refunded = seeded.payments.flatMap((p: SeededPayment) => p.refunds).filter((r) => r.status === "SUCCEEDED");
      assert.deepEqual(data.refunds, [{ currency: "KRW", count: refunded.length, totalMinor: refunded.reduce((s, r) => s + r.amount, 0n) }]);
      const latencies = seeded.notifications.flatMap((n) => (n.latencyMs === null ? [] : [n.latencyMs])).sort((a, b) => a - b);
      assert.equal(data.delivery.delivered, latencies.length);
      assert.equal(Math.round(data.delivery.avgMs!), Math.round(latencies.reduce((s, x) => s + x, 0) / latencies.length));
      const rank = 0.95 * (latencies.length - 1);
      const p95 = latencies[Math.floor(rank)]! + (rank - Math.floor(rank)) * (latencies[Math.ceil(rank)]! - latencies[Math.floor(rank)]!);
      assert.equal(Math.round(data.delivery.p95Ms!), Math.round(p95));
      assert.deepEqual(data.backlog, { pending: 1, retrying: 1, dead: 2 });
      assert.equal(data.delivery.dead, 2);
      assert.equal(data.webhooks.processed, 3);
      assert.equal(Math.round(data.webhooks.avgLagMs!), 150);
      assert.equal(Math.round(data.webhooks.maxLagMs!), 250);

      // The page shows the same figures; the tenant-limited operator sees only the seeded tenant.
      const client = new ConsoleClient(pgb.url);
      await client.login("limited");
      const page = await client.get("/console/overview?hours=24");
      const test = counted.filter((p) => p.pg === "TEST");
      assert.match(
        page.html,
        new RegExp(
          `<tr data-pg="TEST"><td>TEST</td><td class="num" data-k="started">${test.length}</td><td class="num" data-k="paid">${test.filter((p) => p.paidAt).length}</td>`,
        ),
      );
      assert.match(page.html, /src="\/console\/assets\/chart\.umd\.min\.js"/);
      const chart = await fetch(`${pgb.url}/console/assets/chart.umd.min.js`);
      assert.equal(chart.status, 200);
      assert.match(await chart.text(), /Chart\.js v4/);
    });

    it("turns every raised alert into one inbox row per subject, counted in /metrics and acknowledged with a note", async () => {
      const deps = { db: pgb.database.db, logger: createLogger("silent") };
      const subject = seeded.payments[3]!;
      await raiseAlert(deps, { type: "PG_MISMATCH", paymentId: subject.id, message: "test mismatch", details: { reason: "amount" } });
      await raiseAlert(deps, { type: "PG_MISMATCH", paymentId: subject.id, message: "test mismatch", details: { reason: "amount again" } });
      const rows = await db.selectFrom("alerts").selectAll().where("payment_id", "=", subject.id).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.occurrences, 2);
      assert.equal(rows[0]!.tenant, "OTHER", "the tenant follows from the payment");
      const metrics = await (await fetch(`${pgb.url}/metrics`)).text();
      assert.match(metrics, /pgb_alerts_open\{type="PG_MISMATCH"\} 1/);

      const viewer = new ConsoleClient(pgb.url);
      await viewer.login("viewer");
      const seen = await viewer.get("/console/alerts");
      assert.match(seen.html, /data-testid="alert-badge" aria-label="1 open">1</);
      assert.doesNotMatch(seen.html, /data-action="ack"/);
      const support = new ConsoleClient(pgb.url);
      await support.login("support");
      const acked = await support.act("/console/alerts", `/console/alerts/${rows[0]!.id}/ack`, { note: "checked with the PG" });
      assert.equal(acked.status, 303);
      const after = await db.selectFrom("alerts").selectAll().where("id", "=", rows[0]!.id).executeTakeFirstOrThrow();
      assert.equal(after.acknowledged_by, "support");
      assert.equal(after.ack_note, "checked with the PG");
      assert.match(
        await (await fetch(`${pgb.url}/metrics`)).text(),
        /pgb_alerts_open\{type="PG_MISMATCH"\} 0|^(?![\s\S]*pgb_alerts_open\{type="PG_MISMATCH"\})/m,
      );
      await raiseAlert(deps, { type: "PG_MISMATCH", paymentId: subject.id, message: "again", details: {} });
      assert.equal(
        (await db.selectFrom("alerts").select("id").where("payment_id", "=", subject.id).execute()).length,
        2,
        "a new occurrence after acknowledgement is a new row",
      );
      await assert.rejects(db.deleteFrom("audit_log").execute(), /append-only/);
    });
  });
}

describe("console sign-in rate limit", () => {
  it("answers 429 once a client has used its sign-in attempts", async () => {
    const pgb = await startConsolePgb("pglite", { console: { loginAttemptsPerMinute: 3 } });
    try {
      const client = new ConsoleClient(pgb.url);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await client.login("admin", "wrong-password-xx")).status);
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      assert.equal((await client.login("viewer", "wrong-password-xx")).status, 401, "counted per operator name");
    } finally {
      await pgb.close();
    }
  });
});
