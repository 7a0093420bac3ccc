/**
 * A host's cancel reads the order and reserves its refund in one statement (storage/refund-reservation.ts):
 * it reserves only when the cancel's rules hold on the statement's snapshot, so a refusal or a replay
 * writes nothing, racing cancels never refund more than was captured, and one idempotency key refunds once.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { after, before, describe, it } from "node:test";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { hostPost, partialCancelBody, type TestPgb, startPgb } from "../support/pgb.ts";
import type { RefundId } from "../../src/core/ids.ts";
import { readAndReserveRefund, type CancelClaims } from "../../src/storage/refund-reservation.ts";
import { pgBooks, pgbBooks } from "./support.ts";

let refundSeq = 0;

for (const backend of backends()) {
  describe(`a cancel's read and reservation in one statement on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => pgb.close());

    /** The payment's refunds, amounts as text (PGlite answers bigints as numbers). */
    const refundRows = async (paymentId: string) =>
      (
        await pgb.database.db
          .selectFrom("money_movements")
          .select(["amount", "status"])
          .where("payment_id", "=", paymentId)
          .where("kind", "=", "REFUND")
          .execute()
      ).map((r) => ({ amount: String(r.amount), status: r.status }));
    const requested = async (paymentId: string) =>
      (await pgb.database.db.selectFrom("payment_events").select("id").where("payment_id", "=", paymentId).where("event", "=", "REFUND_REQUESTED").execute())
        .length;

    /** Runs the statement for a partial cancel of `refund` claiming the balance is `current`. */
    function reserveDirectly(orderId: number, current: bigint, refund: bigint, claims: Partial<CancelClaims> = {}) {
      const id = `mm_test_reservation_${++refundSeq}_${Date.now()}` as RefundId;
      return readAndReserveRefund(
        pgb.database.db,
        {
          tenant: "DEMO",
          orderId,
          nationCode: "KR",
          currency: "KRW",
          expectPg: undefined,
          expectPayType: undefined,
          current,
          refund,
          idempotencyKey: null,
          ...claims,
        },
        {
          id,
          amount: refund,
          balanceBefore: current,
          balanceAfter: current - refund,
          idempotencyKey: claims.idempotencyKey ?? null,
          fingerprint: `test-${id}`,
          leaseToken: null,
        },
        { source: "HOST_API", detail: { refundId: id } },
      );
    }

    it("reserves with its history row when the claims hold, returning the snapshot from before the reservation", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      const read = await reserveDirectly(orderId, 10000n, 3000n);
      assert.ok(read?.reserved !== undefined);
      assert.equal(read.snapshot.payment.id, paymentId);
      assert.deepEqual(
        read.snapshot.movements.map((m) => m.kind),
        ["CAPTURE"],
      );
      assert.equal(read.reserved.refund.payment_id, paymentId);
      assert.notEqual(read.reserved.paymentVersion, read.snapshot.version);
      assert.deepEqual(await refundRows(paymentId), [{ amount: "3000", status: "PENDING" }]);
      assert.equal(await requested(paymentId), 1);
    });

    it("reserves nothing when a rule refuses: another nation, a stale balance, a refund over it, one in flight, a key used before", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      for (const [what, read] of [
        ["another nation", await reserveDirectly(orderId, 10000n, 1000n, { nationCode: "US" })],
        ["another pay type", await reserveDirectly(orderId, 10000n, 1000n, { expectPayType: "VBANK" })],
        ["a stale balance", await reserveDirectly(orderId, 9000n, 1000n)],
        ["more than the balance", await reserveDirectly(orderId, 10000n, 10001n)],
      ] as const) {
        assert.ok(read !== undefined, what);
        assert.equal(read.reserved, undefined, what);
      }
      assert.deepEqual(await refundRows(paymentId), []);

      const first = await reserveDirectly(orderId, 10000n, 1000n, { idempotencyKey: "key-1" });
      assert.ok(first?.reserved !== undefined);
      // The first refund waits for the PG: nothing else may reserve, not even with the new balance.
      assert.equal((await reserveDirectly(orderId, 9000n, 1000n))?.reserved, undefined);
      await pgb.database.db.updateTable("money_movements").set({ status: "SUCCEEDED" }).where("id", "=", first.reserved.refund.id).execute();
      assert.equal((await reserveDirectly(orderId, 9000n, 500n, { idempotencyKey: "key-1" }))?.reserved, undefined, "a key used before");
      // A retry without a key of the refund that went through (same amounts from the same balance) is a replay.
      assert.equal((await reserveDirectly(orderId, 10000n, 1000n))?.reserved, undefined, "the same amounts again");
      assert.ok((await reserveDirectly(orderId, 9000n, 500n))?.reserved !== undefined);
      assert.equal(await requested(paymentId), 2);
    });

    it("answers a stale CurrentTotalPrice 409 with the remaining balance, refunding nothing", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      const answer = await hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, 1000, 9000));
      assert.equal(answer.status, 409, JSON.stringify(answer.body));
      assert.equal(answer.body.RemainingPrice, "10000");
      assert.deepEqual(await refundRows(paymentId), []);
      assert.equal(await requested(paymentId), 0);
    });

    it("refunds once for one idempotency key, sent again in turn or at once", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      const headers = { "idempotency-key": `reservation-${orderId}` };
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, 1000, 10000), { headers })),
      );
      const again = await hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, 1000, 10000), { headers });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.Replayed, true);
      assert.equal(answers.filter((a) => a.status === 200 && a.body.Replayed !== true).length, 1, JSON.stringify(answers.map((a) => a.body)));
      for (const a of answers) assert.ok(a.status === 200 || a.status === 409, JSON.stringify(a.body));
      assert.deepEqual(await refundRows(paymentId), [{ amount: "1000", status: "SUCCEEDED" }]);
      assert.deepEqual(await pgBooks(pgb, orderId), { captured: 10000n, refunded: 1000n });
    });

    it("never refunds more than was captured when cancels race on one balance; the books agree to the unit", async () => {
      const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
      // Every request claims the full balance: at most one can be right, whichever reserves first.
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, 1000 + i, 10000))));
      const ok = answers.filter((a) => a.status === 200);
      assert.equal(ok.length, 1, JSON.stringify(answers.map((a) => a.body)));
      for (const a of answers) if (a.status !== 200) assert.equal(a.status, 409, JSON.stringify(a.body));
      const refunded = 10000n - BigInt(ok[0]!.body.RemainingPrice as string);
      assert.deepEqual(await pgbBooks(pgb, orderId), { captured: 10000n, refunded });
      assert.deepEqual(await pgBooks(pgb, orderId), { captured: 10000n, refunded });
      assert.equal((await refundRows(paymentId)).length, 1);
    });
    it("runs as a named prepared statement on PostgreSQL, refusals and reservations alike", { skip: backend !== "postgres" }, async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "10000" });
      await pgb.database.db.connection().execute(async (conn) => {
        const id = `mm_test_reservation_prepared_${Date.now()}` as RefundId;
        const claims = { tenant: "DEMO", orderId, nationCode: "KR", currency: "KRW", expectPg: undefined, expectPayType: undefined, idempotencyKey: null };
        const refund = { amount: 1000n, balanceBefore: 10000n, balanceAfter: 9000n, idempotencyKey: null, fingerprint: `test-${id}`, leaseToken: null };
        const event = { source: "HOST_API" as const, detail: { refundId: id } };
        assert.equal((await readAndReserveRefund(conn, { ...claims, current: 9000n, refund: 1000n }, { ...refund, id }, event))?.reserved, undefined);
        assert.ok((await readAndReserveRefund(conn, { ...claims, current: 10000n, refund: 1000n }, { ...refund, id }, event))?.reserved);
        const { rows } = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements WHERE NOT from_sql`.execute(conn);
        // Each variant of the text (with a key, a named pay type...) is its own statement; an unnamed one is never listed.
        const prepared = rows.filter((r) => r.statement.trimStart().startsWith("WITH snapshot AS"));
        assert.ok(prepared.length >= 1, JSON.stringify(rows.map((r) => r.statement.slice(0, 40))));
      });
    });
  });
}
