/**
 * A host's cancel records its refund's success in one statement (storage/refund-statements.ts
 * succeedRefundAsRead): the refund SUCCEEDED, the payment's move, its history row and its outbox row
 * together, and nothing at all when the payment moved since the reservation or the refund is no
 * longer open — completeRefund then takes the locked path. The TEST PG's refund is one statement too;
 * neither may refund more than was captured, however many refunds race.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { hostPost, type TestPgb, startPgb } from "../support/pgb.ts";
import { systemClock } from "../../src/core/system-clock.ts";
import type { RefundId } from "../../src/core/ids.ts";
import { balanceFrom, type Payment } from "../../src/storage/payment-repository.ts";
import { transitionRefund, type RefundRow } from "../../src/storage/money-movement-repository.ts";
import { readCapturedPayment, reserveRefund, succeedRefundAsRead } from "../../src/storage/refund-statements.ts";
import { completeRefund, type RefundAsRead } from "../../src/core/use-cases/refund-outcome.ts";
import { testPgFor } from "../../src/connectors/test-pg/index.ts";
import type { TestPgTables } from "../../src/connectors/test-pg/records.ts";
import { pgBooks, pgbBooks, pgTransactionOf } from "./support.ts";

let refundSeq = 0;

for (const backend of backends()) {
  describe(`a refund's success in one statement on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => pgb.close());

    /** Reserves a refund of `amount` as the host's cancel does: snapshot, then the versioned reservation. */
    async function reserve(orderId: number, amount: bigint): Promise<{ payment: Payment; refund: RefundRow; asRead: RefundAsRead }> {
      const snapshot = (await readCapturedPayment(pgb.database.db, "DEMO", orderId))!;
      const balance = balanceFrom(snapshot.movements);
      const id = `mm_test_asread_${++refundSeq}_${Date.now()}` as RefundId;
      const reserved = await reserveRefund(
        pgb.database.db,
        snapshot.version,
        {
          id,
          paymentId: snapshot.payment.id,
          amount,
          balanceBefore: balance.remaining,
          balanceAfter: balance.remaining - amount,
          idempotencyKey: null,
          fingerprint: `test-${id}`,
          leaseToken: null,
        },
        { status: snapshot.payment.status, source: "HOST_API", detail: { refundId: id } },
      );
      assert.ok(reserved !== undefined);
      const asRead = { version: reserved.paymentVersion, balance: { ...balance, refunded: balance.refunded + amount, remaining: balance.remaining - amount } };
      return { payment: snapshot.payment, refund: reserved.refund, asRead };
    }

    const succeed = (r: Awaited<ReturnType<typeof reserve>>, pgRefundId: string) =>
      succeedRefundAsRead(pgb.database.db, systemClock, r.payment, r.asRead.version, {
        refundId: r.refund.id,
        pgRefundId,
        openStatuses: ["PENDING", "UNKNOWN"],
        to: r.asRead.balance.remaining === 0n ? "CANCELLED" : "PARTIALLY_CANCELLED",
        balance: r.asRead.balance,
        source: "HOST_API",
        detail: { refundId: r.refund.id, pgRefundId, amount: String(r.refund.amount) },
        notification: { RefundPrice: String(r.refund.amount), RefundId: r.refund.id },
      });

    async function writtenFor(paymentId: string) {
      const db = pgb.database.db;
      return {
        status: (await db.selectFrom("payments").select("status").where("id", "=", paymentId).executeTakeFirstOrThrow()).status,
        refunds: await db
          .selectFrom("money_movements")
          .select(["id", "status", "pg_reference"])
          .where("payment_id", "=", paymentId)
          .where("kind", "=", "REFUND")
          .orderBy("created_at")
          .orderBy("id")
          .execute(),
        events: await db
          .selectFrom("payment_events")
          .select(["from_status", "to_status", "event", "source", "detail"])
          .where("payment_id", "=", paymentId)
          .orderBy("id")
          .execute(),
        notifications: await db
          .selectFrom("notifications")
          .select(["type", "payload", "seq", "tenant", "order_id"])
          .where("payment_id", "=", paymentId)
          .orderBy("seq")
          .execute(),
      };
    }

    /** A notification's payload without what differs between two orders or two moments. */
    function comparable(payload: unknown): Record<string, unknown> {
      const { NotificationId, OccurredAt, OrderId, PaymentId, PGTransactionId, RefundId, ...rest } = payload as Record<string, unknown>;
      for (const value of [NotificationId, OccurredAt, OrderId, PaymentId, PGTransactionId, RefundId])
        assert.equal(typeof value === "string" || typeof value === "number", true);
      return rest;
    }

    it("writes the refund's success, the move, its history row and its outbox row together, as the locked path does", async () => {
      const fast = await paidOrder(pgb, { TotalPrice: "5000" });
      const locked = await paidOrder(pgb, { TotalPrice: "5000" });
      for (const [amount, to] of [
        [2000n, "PARTIALLY_CANCELLED"],
        [3000n, "CANCELLED"],
      ] as const) {
        const a = await reserve(fast.orderId, amount);
        const moved = await succeed(a, `tprf_fast_${amount}`);
        assert.equal(moved?.status, to);
        const b = await reserve(locked.orderId, amount);
        await completeRefund(pgb.deps, b.payment, b.refund, `tprf_locked_${amount}`, "HOST_API");

        const [wa, wb] = [await writtenFor(fast.paymentId), await writtenFor(locked.paymentId)];
        assert.equal(wa.status, to);
        assert.equal(wb.status, to);
        assert.deepEqual(wa.refunds.at(-1), { id: a.refund.id, status: "SUCCEEDED", pg_reference: `tprf_fast_${amount}` });
        const from = amount === 2000n ? "PAID" : "PARTIALLY_CANCELLED";
        assert.deepEqual(wa.events.at(-1), {
          from_status: from,
          to_status: to,
          event: "REFUNDED",
          source: "HOST_API",
          detail: { refundId: a.refund.id, pgRefundId: `tprf_fast_${amount}`, amount: String(amount) },
        });
        assert.deepEqual(
          wa.events.map((e) => [e.from_status, e.to_status, e.event]),
          wb.events.map((e) => [e.from_status, e.to_status, e.event]),
        );
        // The same outbox row as the locked path writes, drawn in order after the order's earlier ones.
        assert.equal(wa.notifications.length, wb.notifications.length);
        const [na, nb] = [wa.notifications.at(-1)!, wb.notifications.at(-1)!];
        assert.equal(na.type, nb.type);
        assert.equal(na.tenant, "DEMO");
        assert.equal(na.order_id, fast.orderId);
        assert.deepEqual(comparable(na.payload), comparable(nb.payload));
        assert.equal((na.payload as Record<string, unknown>).RefundId, a.refund.id);
        assert.ok(BigInt(na.seq) > BigInt(wa.notifications.at(-2)!.seq), "the per-order seq follows the order's earlier notifications");
      }
    });

    it("writes nothing when the payment row moved since the reservation; completeRefund then takes the locked path", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "8000" });
      const r = await reserve(orderId, 1000n);
      // Another writer (an external refund's move, say) writes the payment row after the reservation.
      await sql`UPDATE payments SET status = payments.status WHERE id = ${paymentId}`.execute(pgb.database.db);
      const before = await writtenFor(paymentId);
      assert.equal(await succeed(r, "tprf_moved"), undefined);
      assert.deepEqual(await writtenFor(paymentId), before);

      await completeRefund(pgb.deps, r.payment, r.refund, "tprf_moved", "HOST_API", r.asRead);
      const done = await writtenFor(paymentId);
      assert.equal(done.status, "PARTIALLY_CANCELLED");
      assert.deepEqual(done.refunds, [{ id: r.refund.id, status: "SUCCEEDED", pg_reference: "tprf_moved" }]);
      assert.equal(done.events.filter((e) => e.event === "REFUNDED").length, 1);
      assert.equal(done.notifications.at(-1)?.type, "PAYMENT_PARTIALLY_CANCELLED");
      assert.equal((done.notifications.at(-1)?.payload as Record<string, unknown>).RemainingPrice, "7000");
    });

    it("writes nothing when the refund is no longer open", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "8000" });
      const r = await reserve(orderId, 1000n);
      await transitionRefund(pgb.database.db, r.refund.id, { status: "FAILED", failure_code: "TEST", failure_message: "released" }, "PENDING");
      const before = await writtenFor(paymentId);
      assert.equal(await succeed(r, "tprf_late"), undefined);
      assert.deepEqual(await writtenFor(paymentId), before);
      assert.equal(before.status, "PAID");
    });

    it("after waiting for a writer that holds the payment row, writes nothing", { skip: backend !== "postgres" && "PGlite runs one connection" }, async () => {
      const db = pgb.database.db;
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "8000" });
      const r = await reserve(orderId, 1000n);
      let release!: () => void;
      let locked!: () => void;
      const holding = new Promise<void>((resolve) => (locked = resolve));
      const writing = db.transaction().execute(async (trx) => {
        await sql`UPDATE payments SET status = payments.status WHERE id = ${paymentId}`.execute(trx);
        locked();
        await new Promise<void>((resolve) => (release = resolve));
      });
      await holding;
      const before = await writtenFor(paymentId);
      const waiting = succeed(r, "tprf_waited");
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await writing;
      assert.equal(await waiting, undefined, "the row's version changed while the statement waited for its lock");
      assert.deepEqual(await writtenFor(paymentId), before);
    });

    it("never refunds more than was captured when partial cancels race on one payment; the books agree to the unit", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      let remaining = 10000n;
      let answered = 0n;
      for (let round = 0; round < 6 && remaining > 0n; round++) {
        // Eight cancels, each of another amount, all on the balance as the host last saw it.
        const amounts = Array.from({ length: 8 }, (_, i) => BigInt(700 + 100 * i + round));
        const results = await Promise.all(
          amounts.map((refund) =>
            hostPost(pgb, "/PGB/PartialCancel", {
              DBType: "DEMO",
              OrderId: orderId,
              RefundPrice: String(refund),
              CurrentTotalPrice: String(remaining),
              ModifedTotalPrice: String(remaining - refund),
              JoinerId: 42,
              NationCode: "KR",
            }),
          ),
        );
        for (const r of results) assert.ok([200, 409, 422].includes(r.status), JSON.stringify(r.body));
        for (const r of results.filter((x) => x.status === 200)) {
          answered += BigInt(String(r.body.RefundPrice));
          remaining = BigInt(String(r.body.RemainingPrice));
        }
        const books = await pgbBooks(pgb, orderId);
        remaining = books.captured - books.refunded;
      }
      const [pgb_, pg] = [await pgbBooks(pgb, orderId), await pgBooks(pgb, orderId)];
      assert.equal(pgb_.captured, 10000n);
      assert.ok(pgb_.refunded <= pgb_.captured);
      assert.equal(pgb_.refunded, answered, "every refund answered 200 is in PGB's books, and nothing else");
      assert.deepEqual(pg, pgb_, "the TEST PG and PGB agree to the unit");

      const w = await writtenFor(paymentId);
      assert.equal(w.status, pgb_.refunded === pgb_.captured ? "CANCELLED" : "PARTIALLY_CANCELLED");
      const succeeded = w.refunds.filter((r) => r.status === "SUCCEEDED").length;
      assert.equal(w.events.filter((e) => e.event === "REFUNDED").length, succeeded);
      const cancels = w.notifications.filter((n) => n.type === "PAYMENT_PARTIALLY_CANCELLED" || n.type === "PAYMENT_CANCELLED");
      assert.equal(cancels.length, succeeded);
      // In seq order, each notification's amounts follow from the one before.
      let cancelled = 0n;
      for (const n of cancels) {
        const p = n.payload as Record<string, string>;
        cancelled += BigInt(p.RefundPrice!);
        assert.equal(BigInt(p.CancelledPrice!), cancelled);
        assert.equal(BigInt(p.RemainingPrice!), 10000n - cancelled);
      }
      assert.equal(cancelled, pgb_.refunded);
    });

    it("the TEST PG refunds at most the payment's amount under racing refunds, and once per key", async () => {
      const { paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      const fake = testPgFor(pgb.database.db)!;
      const pgId = await pgTransactionOf(pgb, paymentId);
      const tpg = pgb.database.db as unknown as Kysely<TestPgTables>;
      const tenant = (await tpg.selectFrom("test_pg_payments").select("tenant").where("id", "=", pgId).executeTakeFirstOrThrow()).tenant;

      const racing = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => fake.refund(tenant, pgId, 700n, `race-${paymentId}-${i}`)));
      const ok = racing.filter((r) => r.status === "fulfilled");
      assert.equal(ok.length, 14, "10000 holds fourteen refunds of 700");
      for (const r of racing) if (r.status === "rejected") assert.equal((r.reason as { code?: string }).code, "REFUND_EXCEEDS_PAYMENT");
      const rows = await tpg.selectFrom("test_pg_refunds").select("amount").where("payment_id", "=", pgId).execute();
      const stored = await tpg.selectFrom("test_pg_payments").select("refunded").where("id", "=", pgId).executeTakeFirstOrThrow();
      assert.equal(BigInt(stored.refunded), 9800n);
      assert.equal(
        rows.reduce((sum, r) => sum + BigInt(r.amount), 0n),
        9800n,
      );

      const same = await Promise.all(Array.from({ length: 5 }, () => fake.refund(tenant, pgId, 200n, `once-${paymentId}`)));
      assert.equal(new Set(same.map((s) => s.refundId)).size, 1, "one key, one refund");
      assert.equal(BigInt((await tpg.selectFrom("test_pg_payments").select("refunded").where("id", "=", pgId).executeTakeFirstOrThrow()).refunded), 10000n);
      await assert.rejects(fake.refund(tenant, pgId, 100n, `once-${paymentId}`), { code: "IDEMPOTENCY_MISMATCH" });
      await assert.rejects(fake.refund(tenant, pgId, 1n, `over-${paymentId}`), { code: "REFUND_EXCEEDS_PAYMENT" });
      await assert.rejects(fake.refund(tenant, "tp_missing", 1n, `missing-${paymentId}`), { code: "NOT_FOUND" });
    });
  });
}
