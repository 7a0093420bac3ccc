import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { canTransition, guardOf, IllegalTransition, notificationFor, PAYMENT_STATUSES, REFUND_REVERSED, sourcesOf } from "../../src/core/payment-state.ts";
import { routeFor } from "../../src/core/routing.ts";
import { migrate } from "../../src/storage/database.ts";
import { eventsOf, findPayment, paymentsOfOrder, transition } from "../../src/storage/payment-repository.ts";
import { OPEN_REFUND_STATUSES } from "../../src/core/refund-state.ts";
import { findMovement, insertRefund, transitionRefund } from "../../src/storage/money-movement-repository.ts";
import { backends, openTestDatabase } from "../support/backends.ts";
import { insertCheckout } from "../support/payment-rows.ts";
import { systemClock } from "../../src/core/system-clock.ts";
import { newRefundId, brand, type PaymentId } from "../../src/core/ids.ts";

describe("payment state machine", () => {
  it("lets a payment be completed only from a checkout that is still open", () => {
    assert.deepEqual(sourcesOf("PAID").sort(), ["READY", "WAITING_FOR_DEPOSIT"]);
  });

  it("never leaves a final state", () => {
    for (const final of ["CANCELLED", "FAILED", "EXPIRED", "SUPERSEDED"] as const) {
      for (const to of PAYMENT_STATUSES) assert.equal(canTransition(final, to), false, `${final} → ${to}`);
    }
  });

  it("takes a refunded payment back towards PAID only when a refund is reversed", () => {
    assert.deepEqual(sourcesOf("PAID", REFUND_REVERSED).sort(), ["CANCELLED", "PARTIALLY_CANCELLED"]);
    assert.deepEqual(sourcesOf("PARTIALLY_CANCELLED", REFUND_REVERSED).sort(), ["CANCELLED", "PARTIALLY_CANCELLED"]);
    assert.equal(canTransition("CANCELLED", "PAID"), false);
    assert.equal(canTransition("CANCELLED", "PAID", "PAID"), false);
    // A reversal cannot revive an attempt that never captured.
    for (const from of ["READY", "WAITING_FOR_DEPOSIT", "FAILED", "EXPIRED", "SUPERSEDED"] as const) {
      for (const to of PAYMENT_STATUSES) assert.equal(canTransition(from, to, REFUND_REVERSED), false, `${from} → ${to}`);
    }
  });

  it("refuses a guard the table does not allow", () => {
    assert.deepEqual(guardOf("EXPIRED", "EXPIRED").sort(), ["READY", "WAITING_FOR_DEPOSIT"]);
    assert.deepEqual(guardOf("SUPERSEDED", "SUPERSEDED", "WAITING_FOR_DEPOSIT"), ["WAITING_FOR_DEPOSIT"]);
    assert.throws(() => guardOf("PAID", "PAID", "FAILED"), IllegalTransition);
    assert.throws(() => guardOf("PAID", "PAID", "CANCELLED"), IllegalTransition);
    assert.throws(() => guardOf("READY", "PAID"), IllegalTransition);
    assert.throws(() => guardOf("CANCELLED", REFUND_REVERSED), IllegalTransition);
  });

  it("refunds only from a captured payment", () => {
    assert.deepEqual(sourcesOf("CANCELLED").sort(), ["PAID", "PARTIALLY_CANCELLED"]);
    assert.equal(canTransition("READY", "CANCELLED"), false);
  });

  it("notifies the host of every outcome except its own supersede", () => {
    assert.equal(notificationFor("READY", "PAID"), "PAYMENT_COMPLETED");
    assert.equal(notificationFor("READY", "WAITING_FOR_DEPOSIT"), "DEPOSIT_WAITING");
    assert.equal(notificationFor("WAITING_FOR_DEPOSIT", "EXPIRED"), "PAYMENT_EXPIRED");
    assert.equal(notificationFor("PAID", "PARTIALLY_CANCELLED"), "PAYMENT_PARTIALLY_CANCELLED");
    assert.equal(notificationFor("PARTIALLY_CANCELLED", "CANCELLED"), "PAYMENT_CANCELLED");
    assert.equal(notificationFor("READY", "SUPERSEDED"), undefined);
    assert.equal(notificationFor("READY", "FAILED"), "PAYMENT_FAILED");
  });
});

for (const backend of backends()) {
  describe(`transition on ${backend}: the state tables are the authority`, () => {
    let handle: Awaited<ReturnType<typeof openTestDatabase>>;
    let orders = 0;
    before(async () => {
      handle = await openTestDatabase(backend);
      await migrate(handle.db);
    });
    after(() => handle.close());

    async function withPayment(run: (db: typeof handle.db, id: PaymentId, orderId: number) => Promise<void>): Promise<void> {
      const orderId = ++orders;
      const id = brand<PaymentId>(`pay_state_${orderId}`);
      await insertCheckout(handle.db, { id, order_id: orderId, description: "state table" });
      await run(handle.db, id, orderId);
    }

    it("moves along an edge of the table and records where it came from", async () => {
      await withPayment(async (db, id) => {
        const failed = await db
          .transaction()
          .execute((trx) => transition(trx, systemClock, { paymentId: id, to: "FAILED", event: "FAILED", source: "WEBHOOK" }));
        assert.equal(failed?.status, "FAILED");
        const history = await eventsOf(db, [id]);
        assert.deepEqual(
          history.map((e) => [e.from_status, e.to_status]),
          [
            [null, "READY"],
            ["READY", "FAILED"],
          ],
        );
      });
    });

    it("leaves the payment as it is when its state has no edge to the target", async () => {
      await withPayment(async (db, id, orderId) => {
        await db.transaction().execute((trx) => transition(trx, systemClock, { paymentId: id, to: "FAILED", event: "FAILED", source: "WEBHOOK" }));
        const paid = await db.transaction().execute((trx) => transition(trx, systemClock, { paymentId: id, to: "PAID", event: "PAID", source: "WEBHOOK" }));
        assert.equal(paid, undefined);
        assert.equal((await findPayment(db, id))?.status, "FAILED");
        // Even a reversal cannot take a failed attempt to PAID.
        const revived = await db
          .transaction()
          .execute((trx) => transition(trx, systemClock, { paymentId: id, to: "PAID", event: REFUND_REVERSED, source: "WEBHOOK" }));
        assert.equal(revived, undefined);
        assert.equal((await paymentsOfOrder(db, "DEMO", orderId))[0]?.status, "FAILED");
      });
    });

    it("throws on a move the table does not have, before touching the row", async () => {
      await withPayment(async (db, id) => {
        await assert.rejects(
          db
            .transaction()
            .execute((trx) => transition(trx, systemClock, { paymentId: id, to: "CANCELLED", expected: "READY", event: "REFUNDED", source: "HOST_API" })),
          IllegalTransition,
        );
        assert.equal((await findPayment(db, id))?.status, "READY");
      });
    });

    it("moves a refund only along the refund table: a failed refund is not completed later", async () => {
      await withPayment(async (db, id) => {
        const refund = await db.transaction().execute((trx) =>
          insertRefund(trx, {
            id: newRefundId(systemClock),
            paymentId: id,
            amount: 100n,
            balanceBefore: 1000n,
            balanceAfter: 900n,
            idempotencyKey: "k1",
            fingerprint: "f",
          }),
        );
        assert.equal((await transitionRefund(db, refund.id, { status: "FAILED", failure_code: "DECLINED" }, OPEN_REFUND_STATUSES))?.status, "FAILED");
        assert.equal(await transitionRefund(db, refund.id, { status: "SUCCEEDED", pg_reference: "re_1" }), undefined);
        // A second failure report (failRefund's guard) finds it settled already.
        assert.equal(await transitionRefund(db, refund.id, { status: "FAILED" }, OPEN_REFUND_STATUSES), undefined);
        assert.equal((await findMovement(db, refund.id))?.status, "FAILED");
      });
    });

    it("fails a succeeded refund only when the caller means a reversal", async () => {
      await withPayment(async (db, id) => {
        const refund = await db.transaction().execute((trx) =>
          insertRefund(trx, {
            id: newRefundId(systemClock),
            paymentId: id,
            amount: 100n,
            balanceBefore: 1000n,
            balanceAfter: 900n,
            idempotencyKey: "k2",
            fingerprint: "f",
          }),
        );
        await transitionRefund(db, refund.id, { status: "SUCCEEDED", pg_reference: "re_2" });
        assert.equal(await transitionRefund(db, refund.id, { status: "FAILED" }, OPEN_REFUND_STATUSES), undefined);
        assert.equal((await transitionRefund(db, refund.id, { status: "FAILED", failure_code: "LOST" }, "SUCCEEDED"))?.status, "FAILED");
      });
    });
  });
}

describe("routing", () => {
  const routes = [
    { nationCode: "KR", payType: "VIRTUAL_ACCOUNT", pg: "TOSS" },
    { nationCode: "KR", payType: "*", pg: "TOSS" },
    { nationCode: "*", payType: "CARD", pg: "STRIPE" },
  ] as const;

  it("takes the first matching rule, with * matching anything", () => {
    assert.equal(routeFor([...routes], "KR", "CARD"), "TOSS");
    assert.equal(routeFor([...routes], "kr", "VIRTUAL_ACCOUNT"), "TOSS");
    assert.equal(routeFor([...routes], "US", "CARD"), "STRIPE");
    assert.equal(routeFor([...routes], "US", "VIRTUAL_ACCOUNT"), undefined);
  });
});
