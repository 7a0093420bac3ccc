/**
 * The one-statement transition (storage/payment-repository.ts transitionAsRead) that settles the hot
 * PAID path: it writes the move, the capture, the history row and the outbox row together, and nothing
 * at all when the payment moved after the caller read it — the caller then decides again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { systemClock } from "../../src/core/system-clock.ts";
import { findPayment, transition, type Payment } from "../../src/storage/payment-repository.ts";
import { transitionAsRead } from "../../src/storage/transition-as-read.ts";
import { insertWebhook, processedWithMove } from "../../src/storage/webhook-repository.ts";
import { backends } from "../support/backends.ts";
import { hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";

for (const backend of backends()) {
  describe(`transitionAsRead on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => pgb.close());

    async function readyPayment(price = "15000"): Promise<Payment> {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody({ TotalPrice: price }));
      assert.equal(started.status, 200, JSON.stringify(started.body));
      return (await findPayment(pgb.database.db, brand<PaymentId>(String(started.body.PaymentId))))!;
    }

    async function writtenFor(paymentId: string) {
      const db = pgb.database.db;
      return {
        movements: await db.selectFrom("money_movements").select(["kind", "status", "amount", "pg_reference"]).where("payment_id", "=", paymentId).execute(),
        events: await db.selectFrom("payment_events").select(["from_status", "to_status", "event"]).where("payment_id", "=", paymentId).orderBy("id").execute(),
        notifications: await db.selectFrom("notifications").select(["type", "payload", "status"]).where("payment_id", "=", paymentId).execute(),
      };
    }

    const paid = (read: Payment, webhookId?: string) =>
      transitionAsRead(pgb.database.db, systemClock, read, {
        ...(webhookId === undefined ? {} : { alongside: processedWithMove(webhookId) }),
        to: "PAID",
        event: "PAID",
        source: "WEBHOOK",
        detail: { test: true },
        patch: { paid_at: new Date(), pg_transaction_id: `tp_${read.id}` },
        capture: { pgReference: `tp_${read.id}` },
        balance: { captured: read.amount, refunded: 0n, remaining: read.amount, inFlight: 0 },
      });

    it("writes the move, its capture, its history row and its notification together", async () => {
      const read = await readyPayment("15000");
      const moved = await paid(read);
      assert.equal(moved?.status, "PAID");
      assert.equal(moved?.pgTransactionId, `tp_${read.id}`);
      assert.ok(moved?.paidAt instanceof Date);
      const written = await writtenFor(read.id);
      // PGlite answers int8 as a number, PostgreSQL (pg) as a string.
      assert.deepEqual(
        written.movements.map((m) => ({ ...m, amount: String(m.amount) })),
        [{ kind: "CAPTURE", status: "SUCCEEDED", amount: "15000", pg_reference: `tp_${read.id}` }],
      );
      assert.deepEqual(written.events.at(-1), { from_status: "READY", to_status: "PAID", event: "PAID" });
      assert.equal(written.notifications.length, 1);
      const payload = written.notifications[0]!.payload as Record<string, unknown>;
      assert.equal(written.notifications[0]!.type, "PAYMENT_COMPLETED");
      assert.equal(payload.Status, "PAID");
      assert.equal(payload.PaidPrice, "15000");
      assert.equal(payload.RemainingPrice, "15000");
      assert.equal(payload.PGTransactionId, `tp_${read.id}`);
    });

    it("writes nothing when the payment moved after it was read", async () => {
      const read = await readyPayment("20000");
      // Someone else closes the attempt between the caller's read and its write.
      await pgb.database.db
        .transaction()
        .execute((trx) => transition(trx, systemClock, { paymentId: read.id, to: "EXPIRED", event: "EXPIRED", source: "RECONCILER" }));
      const before = await writtenFor(read.id);
      assert.equal(await paid(read), undefined);
      const afterwards = await writtenFor(read.id);
      assert.deepEqual(afterwards, before);
      assert.equal(afterwards.movements.length, 0);
      assert.equal((await findPayment(pgb.database.db, read.id))?.status, "EXPIRED");
    });

    async function storedWebhook(paymentId: string): Promise<string> {
      const id = await insertWebhook(pgb.database.db, {
        pg: "TEST",
        tenant: "DEMO",
        eventId: `evt_${paymentId}`,
        status: "RECEIVED",
        headers: "{}",
        kept: { body: "{}", body_sha256: "0".repeat(64), body_bytes: 2 },
        error: null,
        action: JSON.stringify({ kind: "payment", eventId: `evt_${paymentId}`, paymentReference: paymentId }),
        claimToken: "lease_test",
      });
      assert.ok(id !== undefined);
      return id;
    }
    const webhookRow = (id: string) =>
      pgb.database.db.selectFrom("pg_webhooks").select(["status", "attempts", "claim_token", "processed_at"]).where("id", "=", id).executeTakeFirstOrThrow();

    it("marks the webhook that caused the move PROCESSED in the same statement, and leaves it alone when nothing moved", async () => {
      const read = await readyPayment("25000");
      const webhook = await storedWebhook(read.id);
      assert.equal((await paid(read, webhook))?.status, "PAID");
      const marked = await webhookRow(webhook);
      assert.deepEqual(
        { ...marked, processed_at: marked.processed_at instanceof Date },
        { status: "PROCESSED", attempts: 1, claim_token: null, processed_at: true },
      );

      // A second webhook settling the same (now stale) read moves nothing, so it stays for its caller.
      const late = await storedWebhook(`${read.id}_again`);
      assert.equal(await paid(read, late), undefined);
      assert.deepEqual(await webhookRow(late), { status: "RECEIVED", attempts: 0, claim_token: "lease_test", processed_at: null });
    });

    it("is applied once when two settle the same read at the same time", async () => {
      const read = await readyPayment("30000");
      const results = await Promise.all([paid(read), paid(read), paid(read)]);
      assert.equal(results.filter((r) => r !== undefined).length, 1);
      const written = await writtenFor(read.id);
      assert.equal(written.movements.length, 1);
      assert.equal(written.notifications.length, 1);
      assert.equal(written.events.filter((e) => e.to_status === "PAID").length, 1);
    });
  });
}
