/**
 * The KakaoPay simulator driven over HTTP the way the connector and a buyer's browser will drive
 * it: ready → the buyer's page → approve with the pg_token → lookup → cancels, and every refusal
 * on the way.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { KakaoPaySimulator, TID_LIFETIME_MS } from "./simulator.ts";

const SECRET = "DEV0123456789ABCDEFsim";
const CID = "TC0ONETIME";
let clock = Date.parse("2026-03-02T01:00:00Z");
let sim: KakaoPaySimulator;

before(async () => {
  sim = await KakaoPaySimulator.start({ secretKey: SECRET, now: () => new Date(clock) });
});
after(async () => {
  await sim.close();
});
beforeEach(() => {
  clock += 3_600_000;
});

async function call(path: string, body: unknown, auth = `SECRET_KEY ${SECRET}`): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${sim.url}/online/v1/payment/${path}`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

let orderSeq = 0;
async function ready(total = 15000, extra: Record<string, unknown> = {}) {
  const order = `pay_${++orderSeq}.sig`;
  const r = await call("ready", {
    cid: CID,
    partner_order_id: order,
    partner_user_id: "u_abc",
    item_name: "티셔츠",
    quantity: 1,
    total_amount: total,
    tax_free_amount: 0,
    approval_url: "https://pgb.test/PGBReturn/kakaopay/return/p1?x=1",
    cancel_url: "https://pgb.test/PGBReturn/kakaopay/cancel/p1",
    fail_url: "https://pgb.test/PGBReturn/kakaopay/fail/p1",
    ...extra,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { ...r.body, order } as Record<string, any> & { tid: string; order: string };
}

/** The buyer opens the page and presses a button; answers where the browser is sent. */
async function buyer(pageUrl: string, decision: "approve" | "cancel" | "fail", method = "MONEY"): Promise<URL> {
  const page = await fetch(pageUrl);
  assert.equal(page.status, 200);
  const text = await page.text();
  const action = /action="([^"]+)"/.exec(text)?.[1];
  assert.ok(action, text);
  const response = await fetch(new URL(action, sim.url), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ decision, method }).toString(),
  });
  assert.equal(response.status, 303);
  return new URL(response.headers.get("location")!);
}

async function approve(p: { tid: string; order: string }, pgToken: string, extra: Record<string, unknown> = {}) {
  return call("approve", { cid: CID, tid: p.tid, partner_order_id: p.order, partner_user_id: "u_abc", pg_token: pgToken, ...extra });
}

async function order(tid: string) {
  return call("order", { cid: CID, tid });
}

describe("KakaoPay simulator", () => {
  it("pays end to end: ready, the buyer approves on the PC page, approve with the pg_token from the redirect", async () => {
    const p = await ready(15000);
    assert.match(p.tid, /^T[0-9]{19}$/);
    assert.match(p.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    assert.notEqual(p.next_redirect_pc_url, p.next_redirect_mobile_url);
    assert.ok(p.next_redirect_app_url && p.android_app_scheme && p.ios_app_scheme);
    assert.equal((await order(p.tid)).body.status, "READY");

    const back = await buyer(p.next_redirect_pc_url, "approve", "CARD");
    assert.equal(`${back.origin}${back.pathname}`, "https://pgb.test/PGBReturn/kakaopay/return/p1");
    assert.equal(back.searchParams.get("x"), "1", "the approval_url's own query is kept");
    const pgToken = back.searchParams.get("pg_token")!;
    assert.ok(pgToken);
    assert.equal(sim.payment(p.tid)!.openedOn, "PC");
    assert.equal((await order(p.tid)).body.status, "AUTH_PASSWORD");

    const approved = await approve(p, pgToken);
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.match(approved.body.aid, /^A[0-9]{19}$/);
    assert.equal(approved.body.tid, p.tid);
    assert.equal(approved.body.partner_order_id, p.order);
    assert.equal(approved.body.payment_method_type, "CARD");
    assert.deepEqual(approved.body.amount, { total: 15000, tax_free: 0, vat: 1364, point: 0, discount: 0, green_deposit: 0 });
    assert.ok(approved.body.card_info);

    const looked = (await order(p.tid)).body;
    assert.equal(looked.status, "SUCCESS_PAYMENT");
    assert.equal(looked.cancel_available_amount.total, 15000);
    assert.equal(looked.canceled_amount.total, 0);
    assert.deepEqual(
      looked.payment_action_details.map((a: any) => [a.payment_action_type, a.amount, a.aid]),
      [["PAYMENT", 15000, approved.body.aid]],
    );

    const again = await approve(p, pgToken);
    assert.equal(again.status, 400);
    assert.equal(again.body.error_code, -702, "a second approve is refused, never a second charge");
    assert.equal(sim.payment(p.tid)!.actions.filter((a) => a.type === "PAYMENT").length, 1);
  });

  it("the mobile URL is a separate page and records the device; MONEY is the default method", async () => {
    const p = await ready(1000);
    const back = await buyer(p.next_redirect_mobile_url, "approve");
    assert.equal(sim.payment(p.tid)!.openedOn, "MOBILE");
    const approved = await approve(p, back.searchParams.get("pg_token")!);
    assert.equal(approved.body.payment_method_type, "MONEY");
    assert.equal(approved.body.card_info, undefined);
  });

  it("refuses approve with a wrong pg_token, another tid's token, a tid the caller made up, or other partner ids", async () => {
    const approvalsBefore = sim.effectiveApprovals;
    const a = await ready(5000);
    const b = await ready(5000);
    const tokenA = sim.authorize(a.tid);
    const tokenB = sim.authorize(b.tid);
    assert.equal((await approve(a, "0".repeat(20))).body.error_code, -708);
    assert.equal((await approve(a, tokenB)).body.error_code, -708, "a token is bound to its tid");
    assert.equal((await approve({ tid: "T0000000000000000000", order: a.order }, tokenA)).body.error_code, -721);
    const other = await approve(a, tokenA, { partner_user_id: "someone-else" });
    assert.equal(other.status, 400);
    assert.equal((await approve(a, tokenA, { total_amount: 4999 })).status, 400, "total_amount must equal the ready's");
    assert.equal(sim.effectiveApprovals, approvalsBefore);
    assert.equal((await approve(a, tokenA, { total_amount: 5000 })).status, 200);
    assert.equal((await approve(b, tokenB)).status, 200);
  });

  it("refuses approve before the buyer finished, and after they cancelled or failed on the page", async () => {
    const p = await ready(3000);
    const early = await approve(p, "whatever");
    assert.equal(early.status, 400);
    assert.equal(early.body.error_code, -701);

    const quit = await ready(3000);
    const cancelled = await buyer(quit.next_redirect_pc_url, "cancel");
    assert.equal(cancelled.toString(), "https://pgb.test/PGBReturn/kakaopay/cancel/p1");
    assert.equal((await order(quit.tid)).body.status, "QUIT_PAYMENT");
    assert.equal((await approve(quit, "x")).body.error_code, -701);

    const failed = await ready(3000);
    assert.equal((await buyer(failed.next_redirect_mobile_url, "fail")).toString(), "https://pgb.test/PGBReturn/kakaopay/fail/p1");
    assert.equal((await order(failed.tid)).body.status, "FAIL_AUTH_PASSWORD");
  });

  it("a tid lives 15 minutes: the page, approve and lookup all show it expired afterwards", async () => {
    const approvalsBefore = sim.effectiveApprovals;
    const p = await ready(2000);
    const token = sim.authorize(p.tid);
    const q = await ready(2000);
    clock += TID_LIFETIME_MS - 1000;
    assert.equal((await order(q.tid)).body.status, "READY", "still alive just before the 15 minutes");
    clock += 1000;
    const late = await approve(p, token);
    assert.equal(late.status, 400);
    assert.equal(late.body.error_code, -723);
    assert.equal((await order(p.tid)).body.status, "QUIT_PAYMENT");
    assert.equal((await order(q.tid)).body.status, "QUIT_PAYMENT");
    const page = await fetch(q.next_redirect_pc_url);
    assert.match(await page.text(), /EXPIRED/);
    assert.equal(sim.effectiveApprovals, approvalsBefore);
  });

  it("the payment method can decline the approval (-780 with extras), leaving FAIL_PAYMENT", async () => {
    const p = await ready(9000);
    const token = sim.authorize(p.tid, "CARD");
    sim.declineNextApproval("CARD_LIMIT", "한도 초과");
    const r = await approve(p, token);
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, {
      error_code: -780,
      error_message: "approval failure!",
      extras: { method_result_code: "CARD_LIMIT", method_result_message: "한도 초과" },
    });
    assert.equal((await order(p.tid)).body.status, "FAIL_PAYMENT");
  });

  it("cancels in part and in full with a cancel history; refuses over-cancels, stale available amounts and cancels of unpaid tids", async () => {
    const cancelsBefore = sim.effectiveCancels;
    const p = await ready(10000, { tax_free_amount: 1000 });
    assert.equal(
      (await call("cancel", { cid: CID, tid: p.tid, cancel_amount: 1000, cancel_tax_free_amount: 0 })).body.error_code,
      -704,
      "nothing to cancel before the approve",
    );
    await approve(p, sim.authorize(p.tid));

    const first = await call("cancel", {
      cid: CID,
      tid: p.tid,
      cancel_amount: 4000,
      cancel_tax_free_amount: 0,
      cancel_available_amount: 10000,
      payload: "refund-1",
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, "PART_CANCEL_PAYMENT");
    assert.equal(first.body.approved_cancel_amount.total, 4000);
    assert.equal(first.body.canceled_amount.total, 4000);
    assert.equal(first.body.cancel_available_amount.total, 6000);
    assert.equal(first.body.payload, "refund-1");

    const stale = await call("cancel", { cid: CID, tid: p.tid, cancel_amount: 1000, cancel_tax_free_amount: 0, cancel_available_amount: 10000 });
    assert.equal(stale.status, 400, "a resent cancel that names the old available amount cannot cancel twice");
    const over = await call("cancel", { cid: CID, tid: p.tid, cancel_amount: 6001, cancel_tax_free_amount: 0 });
    assert.equal(over.status, 400);
    assert.equal(over.body.error_code, -706);
    assert.equal(
      (await call("cancel", { cid: CID, tid: p.tid, cancel_amount: 100, cancel_tax_free_amount: 1001 })).status,
      400,
      "tax-free part above the cancel",
    );
    assert.equal((await call("cancel", { cid: CID, tid: "T1111111111111111111", cancel_amount: 100, cancel_tax_free_amount: 0 })).body.error_code, -721);

    const rest = await call("cancel", { cid: CID, tid: p.tid, cancel_amount: 6000, cancel_tax_free_amount: 1000, payload: "refund-2" });
    assert.equal(rest.body.status, "CANCEL_PAYMENT");
    assert.equal(rest.body.cancel_available_amount.total, 0);
    assert.equal(rest.body.canceled_amount.total, 10000);
    assert.equal(rest.body.canceled_amount.tax_free, 1000);
    assert.equal(rest.body.canceled_amount.vat, 818, "every won of VAT is cancelled by the last cancel");

    const looked = (await order(p.tid)).body;
    assert.equal(looked.status, "CANCEL_PAYMENT");
    assert.deepEqual(
      looked.payment_action_details.map((a: any) => [a.payment_action_type, a.amount, a.payload]),
      [
        ["PAYMENT", 10000, null],
        ["CANCEL", 4000, "refund-1"],
        ["CANCEL", 6000, "refund-2"],
      ],
    );
    assert.equal((await call("cancel", { cid: CID, tid: p.tid, cancel_amount: 1, cancel_tax_free_amount: 0 })).status, 400);
    assert.equal(sim.effectiveCancels - cancelsBefore, 2);
  });

  it("answers KakaoPay's error shape for a missing or wrong SECRET_KEY, bad bodies and unknown cids", async () => {
    const none = await call("order", { cid: CID, tid: "T1" }, "");
    assert.equal(none.status, 401);
    assert.equal(none.body.error_code, -401);
    assert.equal((await call("order", { cid: CID, tid: "T1" }, `KakaoAK ${SECRET}`)).status, 401, "the old admin-key scheme is not accepted");
    assert.equal((await call("order", { cid: CID, tid: "T1" }, "SECRET_KEY wrong")).status, 401);
    const bad = await call("ready", {
      cid: CID,
      partner_order_id: "x",
      partner_user_id: "y",
      item_name: "z",
      quantity: 1,
      total_amount: -5,
      tax_free_amount: 0,
    });
    assert.equal(bad.status, 400);
    assert.equal(typeof bad.body.error_message, "string");
    const cid = await call("ready", {
      cid: "CXXXXXXXXX",
      partner_order_id: "x",
      partner_user_id: "y",
      item_name: "z",
      quantity: 1,
      total_amount: 100,
      tax_free_amount: 0,
      approval_url: "https://a",
      cancel_url: "https://a",
      fail_url: "https://a",
    });
    assert.equal(cid.status, 400);
    const form = await fetch(`${sim.url}/online/v1/payment/order`, {
      method: "POST",
      headers: { authorization: `SECRET_KEY ${SECRET}`, "content-type": "application/x-www-form-urlencoded" },
      body: "cid=TC0ONETIME",
    });
    assert.equal(form.status, 400, "the open-api host takes JSON only");
  });

  it("fault injection: 5xx before the effect changes nothing; 5xx, a cut connection or a late answer after approve leave it approved", async () => {
    const p = await ready(7000);
    const token = sim.authorize(p.tid);
    sim.failNext(1, 503, { path: "approve" });
    const refused = await approve(p, token);
    assert.equal(refused.status, 503);
    assert.equal(typeof refused.body.error_code, "number");
    assert.equal((await order(p.tid)).body.status, "AUTH_PASSWORD");

    sim.failNext(1, 500, { path: "approve", afterEffect: true });
    assert.equal((await approve(p, token)).status, 500);
    assert.equal((await order(p.tid)).body.status, "SUCCESS_PAYMENT", "the answer was lost, the approval was not");

    const q = await ready(7000);
    const tokenQ = sim.authorize(q.tid);
    sim.dropNext({ path: "approve" });
    await assert.rejects(approve(q, tokenQ));
    assert.equal((await order(q.tid)).body.status, "SUCCESS_PAYMENT");

    const r = await ready(7000);
    const tokenR = sim.authorize(r.tid);
    sim.delayNext(500, { path: "approve" });
    const timedOut = fetch(`${sim.url}/online/v1/payment/approve`, {
      method: "POST",
      headers: { authorization: `SECRET_KEY ${SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ cid: CID, tid: r.tid, partner_order_id: r.order, partner_user_id: "u_abc", pg_token: tokenR }),
      signal: AbortSignal.timeout(100),
    });
    await assert.rejects(timedOut, { name: "TimeoutError" });
    assert.equal((await order(r.tid)).body.status, "SUCCESS_PAYMENT");

    sim.dropNext({ path: "cancel", afterEffect: false });
    await assert.rejects(call("cancel", { cid: CID, tid: r.tid, cancel_amount: 100, cancel_tax_free_amount: 0 }));
    assert.equal((await order(r.tid)).body.canceled_amount.total, 0, "cut before the effect: nothing cancelled");
  });
});
