/**
 * Notifications born claimed (migration 0010, storage/outbox-statement.ts): a one-statement move (a
 * payment paid, a host's cancel succeeded) may write its notification already claimed by this
 * process's dispatcher and hand it over, so it is sent with no claim round trip. It is born claimed
 * only when nothing can be ahead of it: no undelivered notification of its order (even one committed
 * while this move waited for the order's lock) and no outage of its tenant's endpoint. One whose process died is taken over like any claim.
 * No workers run here: the hand-off is recorded by the test.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { systemClock } from "../../src/core/system-clock.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";
import type { NotificationHandOff } from "../../src/core/deps.ts";
import { claimDueNotifications, type ClaimedNotification } from "../../src/storage/notification-repository.ts";
import { findPayment, type Payment } from "../../src/storage/payment-repository.ts";
import { transitionAsRead } from "../../src/storage/transition-as-read.ts";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { hostPost, partialCancelBody, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";

for (const backend of backends()) {
  describe(`notifications born claimed on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => pgb.close());

    async function readyPayment(): Promise<Payment> {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody({ TotalPrice: "15000" }));
      assert.equal(started.status, 200, JSON.stringify(started.body));
      return (await findPayment(pgb.database.db, brand<PaymentId>(String(started.body.PaymentId))))!;
    }

    function handOff(claimToken: string): NotificationHandOff & { handed: ClaimedNotification[] } {
      const handed: ClaimedNotification[] = [];
      return { claimToken, claimMs: 60_000, handed, deliver: (n) => handed.push(n) };
    }

    const paid = (read: Payment, to: NotificationHandOff, db: Parameters<typeof transitionAsRead>[0] = pgb.database.db) =>
      transitionAsRead(db, systemClock, read, {
        to: "PAID",
        event: "PAID",
        source: "WEBHOOK",
        patch: { paid_at: new Date(), pg_transaction_id: `tp_${read.id}` },
        capture: { pgReference: `tp_${read.id}` },
        balance: { captured: read.amount, refunded: 0n, remaining: read.amount, inFlight: 0 },
        handOff: to,
      });

    const outboxOf = (paymentId: string) =>
      pgb.database.db
        .selectFrom("notifications")
        .select(["id", "claim_token", "attempts", "status", sql<boolean>`next_attempt_at > now()`.as("later")])
        .where("payment_id", "=", paymentId)
        .execute();

    /** An undelivered notification of the order, as an earlier attempt's would be. */
    const earlierNotification = (read: Payment) => sql`
      INSERT INTO notifications (id, tenant, payment_id, order_id, type, payload, status, next_attempt_at)
      VALUES (${`msg_earlier_${read.id}`}, ${read.tenant}, ${read.id}, ${read.orderId}, 'PAYMENT_EXPIRED', '{}'::jsonb, 'PENDING', now() + interval '1 hour')`;

    it("writes the notification claimed for this dispatcher, counted as its first attempt, and hands it over", async () => {
      const read = await readyPayment();
      const to = handOff(pgb.deps.leaseToken!);
      assert.equal((await paid(read, to))?.status, "PAID");
      const [row] = await outboxOf(read.id);
      assert.deepEqual({ ...row, id: undefined }, { id: undefined, claim_token: pgb.deps.leaseToken, attempts: 1, status: "PENDING", later: true });
      assert.equal(to.handed.length, 1);
      assert.equal(to.handed[0]!.id, row!.id);
      assert.equal((to.handed[0]!.payload as { Type: string }).Type, "PAYMENT_COMPLETED");
      // Sent exactly as a later claim would send it: the payload as stored (jsonb orders its keys).
      const stored = await pgb.database.db.selectFrom("notifications").select("payload").where("id", "=", row!.id).executeTakeFirstOrThrow();
      assert.equal(JSON.stringify(to.handed[0]!.payload), JSON.stringify(stored.payload));
      // Nobody else claims it while this process holds it.
      assert.deepEqual(await claimDueNotifications(pgb.database.db, "someone-else", 10_000, 10), []);
    });

    it("leaves it to the ordinary claim when an earlier notification of the order is undelivered", async () => {
      const read = await readyPayment();
      await earlierNotification(read).execute(pgb.database.db);
      const to = handOff(pgb.deps.leaseToken!);
      assert.equal((await paid(read, to))?.status, "PAID");
      const completed = (await outboxOf(read.id)).find((n) => !n.id.startsWith("msg_earlier_"));
      assert.deepEqual({ ...completed, id: undefined }, { id: undefined, claim_token: null, attempts: 0, status: "PENDING", later: false });
      assert.equal(to.handed.length, 0);
    });

    it("leaves it to the ordinary claim while the tenant's endpoint is down", async () => {
      const read = await readyPayment();
      await sql`INSERT INTO notify_endpoints (tenant, failures, down_since, next_probe_at) VALUES (${read.tenant}, 5, now(), now())
                ON CONFLICT (tenant) DO UPDATE SET down_since = now()`.execute(pgb.database.db);
      try {
        const to = handOff(pgb.deps.leaseToken!);
        assert.equal((await paid(read, to))?.status, "PAID");
        const [row] = await outboxOf(read.id);
        assert.equal(row?.claim_token, null);
        assert.equal(to.handed.length, 0);
      } finally {
        await sql`DELETE FROM notify_endpoints WHERE tenant = ${read.tenant}`.execute(pgb.database.db);
      }
    });

    it("is taken over by another dispatcher when the process that holds it has died", async () => {
      const read = await readyPayment();
      const to = handOff("lease-of-a-process-that-died");
      assert.equal((await paid(read, to))?.status, "PAID");
      const claimed = await claimDueNotifications(pgb.database.db, pgb.deps.leaseToken!, 10_000, 10);
      // (The earlier cases' unclaimed notifications are due too: only this payment's matters here.)
      assert.deepEqual(
        claimed.filter((c) => c.payment_id === read.id).map((c) => c.attempts),
        [2],
      );
      await sql`UPDATE notifications SET status = 'DELIVERED', claim_token = NULL WHERE payment_id = ${read.id}`.execute(pgb.database.db);
    });

    it("hands over a host cancel's notification the same way, once the order's earlier one is delivered", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      // No dispatcher runs here: the order's PAYMENT_COMPLETED is delivered by hand.
      await sql`UPDATE notifications SET status = 'DELIVERED', claim_token = NULL WHERE payment_id = ${paymentId}`.execute(pgb.database.db);
      const to = handOff(pgb.deps.leaseToken!);
      pgb.deps.outbox = to;
      try {
        const cancel = await hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, 5000, 15000));
        assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      } finally {
        delete pgb.deps.outbox;
      }
      const cancelled = (await outboxOf(paymentId)).filter((n) => n.status === "PENDING");
      assert.equal(cancelled.length, 1);
      assert.equal(cancelled[0]!.claim_token, pgb.deps.leaseToken);
      assert.deepEqual(
        to.handed.map((n) => [n.id, (n.payload as { Type: string; RemainingPrice: string }).RemainingPrice]),
        [[cancelled[0]!.id, "10000"]],
      );
    });

    if (backend === "postgres") {
      it("runs the move as a prepared statement, its result columns named (a later column cannot break it)", async () => {
        await pgb.database.db.connection().execute(async (conn) => {
          const read = await readyPayment();
          const moved = await paid(read, handOff(pgb.deps.leaseToken!), conn);
          assert.equal(moved?.status, "PAID");
          const { rows } = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements WHERE NOT from_sql`.execute(conn);
          const statement = rows.find((r) => r.statement.trimStart().startsWith("WITH moved AS"));
          assert.ok(statement, `the move is not prepared: ${JSON.stringify(rows.map((r) => r.statement.slice(0, 40)))}`);
          assert.doesNotMatch(statement.statement, /\*/);
        });
      });

      it("sees an earlier notification of the order committed while it waited for the order's lock", async () => {
        const read = await readyPayment();
        const to = handOff(pgb.deps.leaseToken!);
        let settled: Promise<Payment | undefined> | undefined;
        let done = false;
        await pgb.database.db.transaction().execute(async (trx) => {
          // This transaction holds the order's lock (taken by the seq trigger) until it commits.
          await earlierNotification(read).execute(trx);
          settled = paid(read, to).finally(() => (done = true));
          await new Promise((resolve) => setTimeout(resolve, 300));
          assert.equal(done, false, "the move waits for the order's lock");
        });
        assert.equal((await settled)?.status, "PAID");
        const completed = (await outboxOf(read.id)).find((n) => !n.id.startsWith("msg_earlier_"));
        assert.equal(completed?.claim_token, null);
        assert.equal(completed?.later, false);
        assert.equal(to.handed.length, 0);
      });
    }
  });
}
