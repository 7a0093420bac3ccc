import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { backends } from "../support/backends.ts";
import { paidOrder, waitForOrder } from "../support/checkout.ts";
import { hostPost, type TestPgb, startPgb } from "../support/pgb.ts";
import { testPgLedger } from "../support/test-pg-ledger.ts";
import { readCapturedPayment, reserveRefund, succeedRefundLockingPayment } from "../../src/storage/refund-statements.ts";
import { sql } from "kysely";
import type { RefundId } from "../../src/core/ids.ts";

function partial(orderId: number, current: string, refund: string, modified: string, extra: Record<string, unknown> = {}) {
  // As the .NET host serialises PartialCancelRequest, including its misspelt ModifedTotalPrice.
  return {
    DBType: "DEMO",
    OrderId: orderId,
    RefundPrice: refund,
    CurrentTotalPrice: current,
    ModifedTotalPrice: modified,
    JoinerId: 42,
    NationCode: "KR",
    ...extra,
  };
}
function full(orderId: number, current: number, extra: Record<string, unknown> = {}) {
  return { DbType: "DEMO", OrderId: orderId, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: current, JoinerId: 42, NationCode: "KR", ...extra };
}

for (const backend of backends()) {
  describe(`cancels on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => {
      await pgb.close();
    });

    it("refunds part, then the rest, moving PAID → PARTIALLY_CANCELLED → CANCELLED with a notification each", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const first = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.IsSuccess, true);
      assert.equal(first.body.RefundPrice, "5000");
      assert.equal(first.body.RemainingPrice, "10000");
      assert.equal(first.body.ModifiedTotalPrice, "10000");
      await waitForOrder(pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");

      const second = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "10000", "0"));
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.RemainingPrice, "0");
      const view = await waitForOrder(pgb, orderId, (b) => b.Status === "CANCELLED");
      assert.equal(view.CancelledPrice, "15000");
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 15000n, "the PG refunded exactly what PGB recorded");

      const notes = await pgb.database.db.selectFrom("notifications").selectAll().where("order_id", "=", orderId).orderBy("seq").execute();
      assert.deepEqual(
        notes.map((n) => n.type),
        ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_CANCELLED"],
      );
      const partialNote = notes[1]!.payload as Record<string, unknown>;
      assert.equal(partialNote.RefundPrice, "5000");
      assert.equal(partialNote.RemainingPrice, "10000");
      assert.equal(partialNote.CancelledPrice, "5000");
    });

    it("accepts the correctly spelt ModifiedTotalPrice too", async () => {
      const { orderId } = await paidOrder(pgb);
      const body = partial(orderId, "15000", "1000", "14000");
      delete (body as Record<string, unknown>).ModifedTotalPrice;
      const r = await hostPost(pgb, "/PGB/PartialCancel", { ...body, ModifiedTotalPrice: "14000" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    });

    it("fully cancels with FullCancel's int CurrentTotalPrice and DbType casing", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const r = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.RefundPrice, "15000");
      assert.equal(r.body.RemainingPrice, "0");
      await waitForOrder(pgb, orderId, (b) => b.Status === "CANCELLED");
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 15000n);
    });

    it("fully cancels what remains after a partial cancel", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "15000" });
      assert.equal((await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "4000", "11000"))).status, 200);
      const r = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 11000));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.RefundPrice, "11000");
    });

    it("fully cancels a two-decimal payment whose balance has cents when CurrentTotalPrice comes as a string", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "19.99", NationCode: "US" });
      const r = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 0, { CurrentTotalPrice: "19.99", NationCode: "US" }));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.RefundPrice, "19.99");
    });

    it("refuses a stale CurrentTotalPrice with 409 and tells the host the real balance", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "15000" });
      await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      const stale = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "3000", "12000"));
      assert.equal(stale.status, 409);
      assert.equal(stale.body.ErrorCode, "STALE_CURRENT_PRICE");
      assert.equal(stale.body.RemainingPrice, "10000");
      const staleFull = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000));
      assert.equal(staleFull.status, 409);
      assert.equal(staleFull.body.ErrorCode, "STALE_CURRENT_PRICE");
    });

    it("refuses Current − Refund ≠ Modified with AMOUNT_MISMATCH and refunds nothing", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "9000"));
      assert.equal(r.status, 422);
      assert.equal(r.body.ErrorCode, "AMOUNT_MISMATCH");
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 0n);
    });

    it("refuses a refund above the balance with REFUND_EXCEEDS_BALANCE", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "30000", "20000", "10000"));
      assert.equal(r.status, 422);
      assert.equal(r.body.ErrorCode, "REFUND_EXCEEDS_BALANCE");
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 5000n);
    });

    it("answers a retried partial cancel (same amounts) with the original success and refunds once", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const first = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      const retry = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
      assert.equal(retry.status, 200);
      assert.equal(retry.body.RefundId, first.body.RefundId);
      assert.equal(retry.body.Replayed, true);
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 5000n);
    });

    it("answers a retried full cancel with the original success and refunds once", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const first = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000));
      const retry = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000));
      assert.equal(retry.status, 200);
      assert.equal(retry.body.RefundId, first.body.RefundId);
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 15000n);
    });

    it("replays a cancel by Idempotency-Key and refuses the key reused for another request", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const headers = { "idempotency-key": `cancel-${orderId}-1` };
      const first = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"), { headers });
      assert.equal(first.status, 200);
      const retry = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"), { headers });
      assert.equal(retry.body.RefundId, first.body.RefundId);
      const reused = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "1000", "9000"), { headers });
      assert.equal(reused.status, 422);
      assert.equal(reused.body.ErrorCode, "IDEMPOTENCY_KEY_REUSED");
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 5000n);
    });

    it("refuses a cancel on a fully cancelled order with PAYMENT_ALREADY_CANCELLED", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "15000" });
      await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000));
      const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "1000", "1000", "0"));
      assert.equal(r.status, 409);
      assert.equal(r.body.ErrorCode, "PAYMENT_ALREADY_CANCELLED");
    });

    it("refuses cancels of unknown or unpaid orders", async () => {
      const unknown = await hostPost(pgb, "/PGB/PartialCancel", partial(99_999_999, "1000", "1000", "0"));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.ErrorCode, "ORDER_NOT_FOUND");
      const started = await hostPost(pgb, "/PGB/PayStart", {
        DBType: "DEMO",
        OrderId: 77_000_001,
        PayType: "CARD",
        TotalPrice: "1000",
        JoinerId: 1,
        OrderDescription: null,
        RedirectUrl: "https://shop.example.com/x",
        NationCode: "KR",
      });
      assert.equal(started.status, 200);
      const unpaid = await hostPost(pgb, "/PGB/FullCancel", full(77_000_001, 1000));
      assert.equal(unpaid.status, 409);
      assert.equal(unpaid.body.ErrorCode, "PAYMENT_NOT_PAID");
    });

    it("refuses a FullCancel naming another PG, pay type or nation", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const pg = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000, { PGType: "STRIPE" }));
      assert.equal(pg.status, 422);
      assert.equal(pg.body.ErrorCode, "PG_TYPE_MISMATCH");
      const payType = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000, { PayType: "VIRTUAL_ACCOUNT" }));
      assert.equal(payType.body.ErrorCode, "PAY_TYPE_MISMATCH");
      const nation = await hostPost(pgb, "/PGB/FullCancel", full(orderId, 15000, { NationCode: "JP" }));
      assert.equal(nation.status, 422);
      assert.equal(nation.body.ErrorCode, "NATION_MISMATCH");
    });

    it("inserts no refund from a snapshot of a payment another cancel changed since, and one from a current snapshot", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "9000" });
      const stale = await readCapturedPayment(pgb.database.db, "DEMO", orderId);
      assert.ok(stale !== undefined);
      assert.deepEqual(
        stale.movements.map((m) => [m.kind, m.status, String(m.amount)]),
        [["CAPTURE", "SUCCEEDED", "9000"]],
      );
      const done = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "9000", "1000", "8000"));
      assert.equal(done.status, 200, JSON.stringify(done.body));
      const refund = (id: string) => ({
        id: id as RefundId,
        paymentId: stale.payment.id,
        amount: 1000n,
        balanceBefore: 9000n,
        balanceAfter: 8000n,
        idempotencyKey: null,
        fingerprint: "test",
        leaseToken: null,
      });
      const event = { status: stale.payment.status, source: "HOST_API" as const, detail: {} };
      assert.equal(await reserveRefund(pgb.database.db, stale.version, refund("mm_test_stale"), event), undefined);
      const current = await readCapturedPayment(pgb.database.db, "DEMO", orderId);
      assert.ok(current !== undefined && current.version !== stale.version);
      assert.equal(current.movements.filter((m) => m.kind === "REFUND").length, 1, "nothing inserted from the stale snapshot");
      const row = await reserveRefund(pgb.database.db, current.version, refund("mm_test_current"), event);
      assert.equal(row?.refund.status, "PENDING");
      const after = await readCapturedPayment(pgb.database.db, "DEMO", orderId);
      assert.equal(row?.paymentVersion, after?.version, "the reservation reports the payment row's new version");
      const history = await pgb.database.db
        .selectFrom("payment_events")
        .select("detail")
        .where("payment_id", "=", stale.payment.id)
        .where("event", "=", "REFUND_REQUESTED")
        .execute();
      assert.equal(history.length, 2, "the reservation's history row is written with it");
    });

    it("records a refund's success with its snapshot's balance, or none when the payment row was written before the lock", async () => {
      const db = pgb.database.db;
      const reserveOne = async (orderId: number, id: string) => {
        const snapshot = (await readCapturedPayment(db, "DEMO", orderId))!;
        const refund = { id: id as RefundId, paymentId: snapshot.payment.id, amount: 1000n, balanceBefore: 5000n, balanceAfter: 4000n };
        const row = await reserveRefund(
          db,
          snapshot.version,
          { ...refund, idempotencyKey: null, fingerprint: "test", leaseToken: null },
          {
            status: snapshot.payment.status,
            source: "HOST_API",
            detail: {},
          },
        );
        assert.ok(row !== undefined);
        return snapshot.payment.id;
      };
      const { orderId } = await paidOrder(pgb, { TotalPrice: "5000" });
      await reserveOne(orderId, "mm_test_fresh");
      const fresh = await db.transaction().execute((trx) => succeedRefundLockingPayment(trx, "mm_test_fresh" as RefundId, "pg_fresh", ["PENDING"]));
      assert.deepEqual(fresh?.balance, { captured: 5000n, refunded: 1000n, remaining: 4000n, inFlight: 0 });
      if (backend !== "postgres") return;

      // Another transaction writes the payment row while this one waits for its lock.
      const { orderId: o2 } = await paidOrder(pgb, { TotalPrice: "5000" });
      const paymentId = await reserveOne(o2, "mm_test_waited");
      let release!: () => void;
      const writing = db.transaction().execute(async (trx) => {
        await sql`UPDATE payments SET status = payments.status WHERE id = ${paymentId}`.execute(trx);
        await new Promise<void>((resolve) => (release = resolve));
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const waited = db.transaction().execute((trx) => succeedRefundLockingPayment(trx, "mm_test_waited" as RefundId, "pg_waited", ["PENDING"]));
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await writing;
      const result = await waited;
      assert.equal(result?.payment.id, paymentId);
      assert.equal(result?.balance, undefined, "a snapshot older than the lock is not trusted");
    });

    it("never refunds more than was paid when 50 partial cancels race on one order", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "50000" });
      // Each request believes in a different balance, as 50 racing host workers might.
      const bodies = Array.from({ length: 50 }, (_, i) => partial(orderId, String(50000 - i * 1000), "1000", String(49000 - i * 1000)));
      const results = await Promise.all(bodies.map((b) => hostPost(pgb, "/PGB/PartialCancel", b)));
      const succeeded = results.filter((r) => r.status === 200);
      for (const r of results) assert.ok([200, 409].includes(r.status), JSON.stringify(r.body));
      assert.ok(succeeded.length >= 1);
      const view = await waitForOrder(pgb, orderId, () => true);
      const refunded = BigInt(String(view.CancelledPrice));
      assert.equal(refunded, BigInt(succeeded.length) * 1000n);
      assert.equal(BigInt(String(view.RemainingPrice)), 50000n - refunded);
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), refunded, "PG and PGB agree on every unit");

      // Same amounts raced 50 times: one refund, the other 49 are retries of it.
      const { orderId: o2, paymentId: p2 } = await paidOrder(pgb, { TotalPrice: "50000" });
      const same = await Promise.all(Array.from({ length: 50 }, () => hostPost(pgb, "/PGB/PartialCancel", partial(o2, "50000", "7000", "43000"))));
      for (const r of same) assert.ok([200, 409].includes(r.status), JSON.stringify(r.body));
      assert.equal(await testPgLedger(pgb.database.db).refunded(p2), 7000n);

      // Then the host drains the first order sequentially: the balance reaches exactly zero.
      let balance = 50000n - refunded;
      while (balance > 0n) {
        const r = await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, String(balance), "1000", String(balance - 1000n)));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        balance -= 1000n;
      }
      const final = await waitForOrder(pgb, orderId, (b) => b.Status === "CANCELLED");
      assert.equal(final.RemainingPrice, "0");
      assert.equal(await testPgLedger(pgb.database.db).refunded(paymentId), 50000n);
      const refunds = final.Refunds as Array<Record<string, unknown>>;
      assert.equal(refunds.filter((r) => r.Status === "SUCCEEDED").length, 50);
    });
  });
}
