/**
 * The connector's wire schemas and transformers against the simulator's real answers, so the two
 * (written apart on purpose) are known to agree before the connector is built on them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { money } from "../../src/core/money.ts";
import {
  cancelAmounts,
  cancelToRefundOutcome,
  findRefundInOrder,
  orderToPgPayment,
  partnerOrderId,
  partnerUserId,
  readyAmounts,
  redirectUrlFor,
  verifyPartnerOrderId,
} from "../../src/connectors/kakaopay/transformers.ts";
import {
  KakaoPayApproveResponseSchema,
  KakaoPayCancelResponseSchema,
  KakaoPayOrderResponseSchema,
  KakaoPayReadyResponseSchema,
} from "../../src/connectors/kakaopay/wire.ts";
import { classifyKakaoPayAnswer } from "../../src/connectors/kakaopay/client.ts";
import { KakaoPaySimulator, TID_LIFETIME_MS } from "../simulators/kakaopay/simulator.ts";

const SECRET = "DEVwirecheck0123";
const PARTNER_SECRET = "partner-secret";
let clock = Date.parse("2026-03-02T01:00:00Z");
let sim: KakaoPaySimulator;

before(async () => {
  sim = await KakaoPaySimulator.start({ secretKey: SECRET, now: () => new Date(clock) });
});
after(async () => {
  await sim.close();
});

async function call(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${sim.url}/online/v1/payment/${path}`, {
    method: "POST",
    headers: { authorization: `SECRET_KEY ${SECRET}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe("KakaoPay wire schemas against the simulator", () => {
  it("parses ready, approve, order and cancel answers; the refund is found in the history by its payload", async () => {
    const amount = money(12000n, "KRW");
    const ids = { cid: "TC0ONETIME", partner_order_id: partnerOrderId("pay_W1", PARTNER_SECRET), partner_user_id: partnerUserId("SHOP", 7, PARTNER_SECRET) };
    const readyRes = await call("ready", {
      ...ids,
      item_name: "주문 1",
      ...readyAmounts(amount),
      approval_url: "https://pgb.test/ok",
      cancel_url: "https://pgb.test/cancel",
      fail_url: "https://pgb.test/fail",
    });
    const ready = KakaoPayReadyResponseSchema.parse(readyRes.body);
    assert.ok(redirectUrlFor(ready, "Mozilla/5.0 (iPhone) Mobile").endsWith("/mInfo"));

    const pgToken = sim.authorize(ready.tid, "CARD");
    const approve = KakaoPayApproveResponseSchema.parse((await call("approve", { ...ids, tid: ready.tid, pg_token: pgToken })).body);
    assert.equal(verifyPartnerOrderId(approve.partner_order_id, PARTNER_SECRET), "pay_W1");

    const cancelRes = await call("cancel", { cid: ids.cid, tid: ready.tid, ...cancelAmounts(money(2000n, "KRW"), amount), payload: "ref_W1" });
    const cancel = KakaoPayCancelResponseSchema.parse(cancelRes.body);
    assert.deepEqual(cancelToRefundOutcome(cancel, money(2000n, "KRW")), { status: "SUCCEEDED", pgRefundId: cancel.aid });

    const order = KakaoPayOrderResponseSchema.parse((await call("order", { cid: ids.cid, tid: ready.tid })).body);
    const pg = orderToPgPayment(order, "pay_W1");
    assert.deepEqual([pg.status, pg.amount], ["PARTIALLY_REFUNDED", amount]);
    assert.deepEqual(findRefundInOrder(order, "ref_W1", money(2000n, "KRW")), { status: "SUCCEEDED", pgRefundId: cancel.aid });
    assert.deepEqual(findRefundInOrder(order, "ref_W2", money(2000n, "KRW")), { status: "NOT_FOUND" });

    const resent = await call("cancel", { cid: ids.cid, tid: ready.tid, ...cancelAmounts(money(2000n, "KRW"), amount), payload: "ref_W1" });
    assert.equal(
      classifyKakaoPayAnswer("cancel", resent.status, resent.body).errorClass,
      "indeterminate",
      "a resend with the old balance is refused, and PGB must look it up",
    );
  });

  it("classifies the simulator's errors as the connector must act on them", async () => {
    const ids = { cid: "TC0ONETIME", partner_order_id: partnerOrderId("pay_W2", PARTNER_SECRET), partner_user_id: "u" };
    const ready = KakaoPayReadyResponseSchema.parse(
      (
        await call("ready", {
          ...ids,
          item_name: "x",
          ...readyAmounts(money(5000n, "KRW")),
          approval_url: "https://a/ok",
          cancel_url: "https://a/c",
          fail_url: "https://a/f",
        })
      ).body,
    );
    const early = await call("approve", { ...ids, tid: ready.tid, pg_token: "nope" });
    assert.equal(classifyKakaoPayAnswer("approve", early.status, early.body).errorClass, "declined");

    const token = sim.authorize(ready.tid);
    sim.declineNextApproval();
    const declined = await call("approve", { ...ids, tid: ready.tid, pg_token: token });
    const failure = classifyKakaoPayAnswer("approve", declined.status, declined.body);
    assert.deepEqual([failure.errorClass, failure.pgCode], ["declined", "-780"]);
    assert.match(failure.pgMessage ?? "", /USER_LOCKED/, "the payment method's own result is kept");

    sim.failNext(1, 500, { path: "order" });
    const busy = await call("order", { cid: ids.cid, tid: ready.tid });
    assert.equal(classifyKakaoPayAnswer("order", busy.status, busy.body).errorClass, "retryable");

    const other = KakaoPayReadyResponseSchema.parse(
      (
        await call("ready", {
          ...ids,
          item_name: "x",
          ...readyAmounts(money(5000n, "KRW")),
          approval_url: "https://a/ok",
          cancel_url: "https://a/c",
          fail_url: "https://a/f",
        })
      ).body,
    );
    const otherToken = sim.authorize(other.tid);
    clock += TID_LIFETIME_MS;
    const expired = await call("approve", { ...ids, tid: other.tid, pg_token: otherToken });
    assert.equal(classifyKakaoPayAnswer("approve", expired.status, expired.body).errorClass, "declined");
    const order = KakaoPayOrderResponseSchema.parse((await call("order", { cid: ids.cid, tid: other.tid })).body);
    assert.equal(orderToPgPayment(order, "pay_W2", new Date(clock)).status, "FAILED");

    const unauthorized = await fetch(`${sim.url}/online/v1/payment/order`, {
      method: "POST",
      headers: { authorization: "SECRET_KEY wrong", "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(classifyKakaoPayAnswer("order", unauthorized.status, await unauthorized.json()).errorClass, "fatal");
  });
});
