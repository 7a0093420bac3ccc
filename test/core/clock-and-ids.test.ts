/**
 * The one injected clock (src/core/ports/clock.ts) and the branded ids (src/core/ids.ts): PGB reads
 * the time only from the clock it is given, and one kind of id cannot be passed for another.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  brand,
  newId,
  newPaymentId,
  newRefundId,
  provisionalPgTransactionId,
  type PaymentId,
  type PgTransactionId,
  type RefundId,
} from "../../src/core/ids.ts";
import type { Clock } from "../../src/core/ports/clock.ts";
import { findPayment } from "../../src/storage/payment-repository.ts";
import { backends } from "../support/backends.ts";
import { hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";

/** A clock stopped at `at`, far from the machine's time, so a read of the machine's time shows. */
function stoppedClock(at: Date): Clock {
  return { now: () => new Date(at.getTime()), nowMs: () => at.getTime() };
}

const FROZEN = new Date("2031-05-06T07:08:09.000Z");

describe("ids", () => {
  it("take their time part from the clock they are given", () => {
    const clock = stoppedClock(FROZEN);
    const time = FROZEN.getTime().toString(36).padStart(9, "0");
    assert.equal(newId("msg", clock).slice(0, 4 + 9), `msg_${time}`);
    assert.equal(newPaymentId(clock).slice(0, 4 + 9), `pay_${time}`);
    assert.equal(newRefundId(clock).slice(0, 3 + 9), `mm_${time}`);
    assert.notEqual(newPaymentId(clock), newPaymentId(clock));
  });

  it("are branded: a RefundId or a PG transaction id is not a PaymentId, and a plain string is none of them", () => {
    const clock = stoppedClock(FROZEN);
    const refundId: RefundId = newRefundId(clock);
    const pgTransactionId: PgTransactionId = brand<PgTransactionId>("tx_1");
    // @ts-expect-error a RefundId where a PaymentId is expected does not compile
    const wrongPayment: PaymentId = refundId;
    // @ts-expect-error a PG transaction id where a PaymentId is expected does not compile
    const wrongPayment2: PaymentId = pgTransactionId;
    // @ts-expect-error a PaymentId where a RefundId is expected does not compile
    const wrongRefund: RefundId = newPaymentId(clock);
    // @ts-expect-error a plain string is not a PaymentId until it is branded where it enters
    const unbranded: PaymentId = "pay_1";
    // Brands exist only for the compiler: at run time an id is its string.
    assert.equal(typeof wrongPayment, "string");
    assert.deepEqual([wrongPayment2, wrongRefund.slice(0, 4), unbranded], ["tx_1", "pay_", "pay_1"]);
    const paymentId = newPaymentId(clock);
    assert.equal(provisionalPgTransactionId(paymentId), paymentId);
  });
});

for (const backend of backends()) {
  describe(`the injected clock on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend, { clock: stoppedClock(FROZEN) });
    });
    after(async () => {
      await pgb.close();
    });

    it("is what PayStart reads: the checkout expires checkoutTtlMinutes after the clock's time, the payment id carries it", async () => {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody());
      assert.equal(started.body.ErrorCode, "OK");
      const paymentId = brand<PaymentId>(String(started.body.PaymentId));
      assert.equal(paymentId.slice(0, 4 + 9), `pay_${FROZEN.getTime().toString(36).padStart(9, "0")}`);
      const payment = await findPayment(pgb.database.db, paymentId);
      assert.equal(payment?.expiresAt.toISOString(), new Date(FROZEN.getTime() + 30 * 60_000).toISOString());
      assert.equal(pgb.deps.clock.now().toISOString(), FROZEN.toISOString());
    });
  });
}
