/**
 * Closing PGB while a handler is still talking to the PG (its client already gone) must let the
 * handler finish and record what the PG did before the database closes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { Faults, faultyTestConnector } from "../support/faulty-connector.ts";
import { DEMO_KEY, startPgb } from "../support/pgb.ts";
import { requestDuringClose } from "../support/during-close.ts";

for (const backend of backends()) {
  describe(`graceful close on ${backend}`, () => {
    it("finishes a refund whose client hung up before PGB's close returns", async () => {
      const faults = new Faults();
      const pgb = await startPgb(backend, { factories: [faultyTestConnector(faults)] });
      let closed = false;
      try {
        const { orderId, paymentId } = await paidOrder(pgb, { TotalPrice: "10000" });
        const release = faults.holdNext("refund");
        const abort = new AbortController();
        const request = fetch(`${pgb.url}/PGB/PartialCancel`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${DEMO_KEY}` },
          body: JSON.stringify({
            DBType: "DEMO",
            OrderId: orderId,
            RefundPrice: "1000",
            CurrentTotalPrice: "10000",
            ModifedTotalPrice: "9000",
            JoinerId: 1,
            NationCode: "KR",
          }),
          signal: abort.signal,
        }).catch(() => undefined);
        for (let i = 0; i < 100 && faults.calls.refund === 0; i++) await new Promise((r) => setTimeout(r, 10));
        abort.abort();
        await request;
        const closing = pgb.app.close().then(() => (closed = true));
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(closed, false, "close waits for the handler");
        release();
        await closing;
        const refunds = await pgb.database.db
          .selectFrom("money_movements")
          .select(["status"])
          .where("payment_id", "=", paymentId)
          .where("kind", "=", "REFUND")
          .execute();
        assert.deepEqual(refunds, [{ status: "SUCCEEDED" }]);
      } finally {
        if (!closed) await pgb.app.close();
        await pgb.database.close();
      }
    });
  });
}

for (const backend of backends()) {
  describe(`answers while shutting down on ${backend}`, () => {
    it("answers a request arriving on a kept-alive connection during close in the host's result shape, with Retry-After", async () => {
      const faults = new Faults();
      const pgb = await startPgb(backend, { factories: [faultyTestConnector(faults)] });
      try {
        const { answer, closed } = await requestDuringClose(pgb, faults);
        await closed;
        assert.equal(answer.status, 503);
        assert.deepEqual(Object.keys(answer.body).sort(), ["ErrorCode", "ErrorMessage", "IsSuccess"]);
        assert.equal(answer.body.IsSuccess, false);
        assert.equal(answer.body.ErrorCode, "SHUTTING_DOWN");
        assert.equal(answer.headers["retry-after"], "1");
        assert.equal(answer.headers.connection, "close");
      } finally {
        await pgb.database.close();
      }
    });
  });
}
