/**
 * Every ErrorCode in the catalogue is produced by a real request here, with its documented HTTP
 * status; the last test fails if a code is added to the catalogue without a way to reach it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConnectorError } from "../../src/core/ports/connector.ts";
import { ERROR_CATALOGUE, type ErrorCode } from "../../src/core/errors.ts";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { Faults, faultyTestConnector } from "../support/faulty-connector.ts";
import { requestDuringClose } from "../support/during-close.ts";
import { hostGet, hostPost, OTHER_KEY, payStartBody, startPgb, type HostResponse, type TestPgb } from "../support/pgb.ts";

const backend = backends().at(-1)!;

describe(`every ErrorCode is reachable (${backend})`, () => {
  let pgb: TestPgb;
  const faults = new Faults();
  const seen = new Set<string>();

  function expect(r: HostResponse, code: ErrorCode): void {
    assert.equal(r.body.ErrorCode, code, JSON.stringify(r.body));
    assert.equal(r.status, ERROR_CATALOGUE[code].status, `${code} must answer HTTP ${ERROR_CATALOGUE[code].status}`);
    assert.equal(r.body.IsSuccess, code === "OK");
    seen.add(code);
  }
  const partial = (orderId: number, current: string, refund: string, modified: string) => ({
    DBType: "DEMO",
    OrderId: orderId,
    RefundPrice: refund,
    CurrentTotalPrice: current,
    ModifedTotalPrice: modified,
    JoinerId: 1,
    NationCode: "KR",
  });
  const full = (orderId: number, current: number, extra: Record<string, unknown> = {}) => ({
    DbType: "DEMO",
    OrderId: orderId,
    PGType: "TEST",
    PayType: "CARD",
    CurrentTotalPrice: current,
    JoinerId: 1,
    NationCode: "KR",
    ...extra,
  });

  before(async () => {
    pgb = await startPgb(backend, { factories: [faultyTestConnector(faults)] });
  });
  after(async () => {
    await pgb.close();
  });

  it("answers input, auth and routing failures with their codes", async () => {
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody()), "OK");
    expect(await hostPost(pgb, "/PGB/PayStart", "{"), "INVALID_JSON");
    expect(await hostPost(pgb, "/PGB/PayStart", "a=b", { headers: { "content-type": "text/plain" } }), "UNSUPPORTED_MEDIA_TYPE");
    expect(await hostPost(pgb, "/PGB/PayStart", JSON.stringify({ pad: "x".repeat(100_000) })), "BODY_TOO_LARGE");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ OrderId: "x" })), "INVALID_FIELD");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ TotalPrice: "1.5" })), "INVALID_AMOUNT");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ NationCode: "QQ" })), "UNSUPPORTED_NATION");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ PayType: "GOLD" })), "UNSUPPORTED_PAY_TYPE");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ RedirectUrl: "https://evil.test/" })), "REDIRECT_URL_NOT_ALLOWED");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody(), { key: "wrong" }), "UNAUTHORIZED");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody(), { key: OTHER_KEY }), "TENANT_FORBIDDEN");
    expect(await hostGet(pgb, "/PGB/Payment?DBType=DEMO&OrderId=987654321"), "ORDER_NOT_FOUND");
    expect(await hostPost(pgb, "/PGB/Elsewhere", {}), "NOT_FOUND");
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ NationCode: "JP", PayType: "VIRTUAL_ACCOUNT" })), "NO_ROUTE");
  });

  it("answers order-state conflicts with their codes", async () => {
    const { orderId } = await paidOrder(pgb, { TotalPrice: "10000" });
    expect(await hostPost(pgb, "/PGB/PayStart", payStartBody({ OrderId: orderId })), "ORDER_ALREADY_PAID");
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "9000", "1000", "8000")), "STALE_CURRENT_PRICE");
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "1000", "8000")), "AMOUNT_MISMATCH");
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "20000", "11000", "9000")), "REFUND_EXCEEDS_BALANCE");
    expect(await hostPost(pgb, "/PGB/FullCancel", full(orderId, 10000, { PGType: "TOSS" })), "PG_TYPE_MISMATCH");
    expect(await hostPost(pgb, "/PGB/FullCancel", full(orderId, 10000, { PayType: "TRANSFER" })), "PAY_TYPE_MISMATCH");
    expect(await hostPost(pgb, "/PGB/FullCancel", full(orderId, 10000, { NationCode: "US" })), "NATION_MISMATCH");
    const key = { headers: { "idempotency-key": "k-1" } };
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "1000", "9000"), key), "OK");
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "9000", "1000", "8000"), key), "IDEMPOTENCY_KEY_REUSED");
    expect(await hostPost(pgb, "/PGB/FullCancel", full(orderId, 9000)), "OK");
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "500", "500", "0")), "PAYMENT_ALREADY_CANCELLED");

    const unpaid = payStartBody();
    expect(await hostPost(pgb, "/PGB/PayStart", unpaid), "OK");
    expect(await hostPost(pgb, "/PGB/FullCancel", full(Number(unpaid.OrderId), 15000)), "PAYMENT_NOT_PAID");
  });

  it("answers the loser of two racing PayStarts for one order with PAYSTART_IN_PROGRESS, and expires its checkout", async () => {
    const body = payStartBody();
    const release = faults.holdNext("createCheckout");
    const held = hostPost(pgb, "/PGB/PayStart", body);
    await new Promise((r) => setTimeout(r, 100));
    const winner = await hostPost(pgb, "/PGB/PayStart", body);
    expect(winner, "OK");
    const expiresBefore = faults.calls.expireCheckout;
    release();
    expect(await held, "PAYSTART_IN_PROGRESS");
    for (let i = 0; i < 50 && faults.calls.expireCheckout === expiresBefore; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(faults.calls.expireCheckout, expiresBefore + 1, "the loser's checkout is expired at the PG");
    // The host's retry gets the winner's checkout.
    const retry = await hostPost(pgb, "/PGB/PayStart", body);
    assert.equal(retry.body.RedirectUrl, winner.body.RedirectUrl);
  });

  it("answers a cancel while another refund of the order waits for the PG with CANCEL_IN_PROGRESS", async () => {
    const { orderId } = await paidOrder(pgb, { TotalPrice: "10000" });
    const release = faults.holdNext("refund");
    const first = hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "1000", "9000"));
    await new Promise((r) => setTimeout(r, 100));
    expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "9000", "1000", "8000")), "CANCEL_IN_PROGRESS");
    release();
    expect(await first, "OK");
  });

  it("maps each PG failure class of a checkout to its code and leaves no live attempt behind", async () => {
    const cases: Array<[ConnectorError, ErrorCode]> = [
      [new ConnectorError("declined", "merchant not allowed", "MERCHANT_BLOCKED", 403), "PG_DECLINED"],
      [new ConnectorError("retryable", "503 from PG", undefined, 503), "PG_UNAVAILABLE"],
      [new ConnectorError("indeterminate", "timed out"), "PG_RESULT_UNKNOWN"],
      [new ConnectorError("fatal", "401 bad key", "UNAUTHORIZED", 401), "PG_ERROR"],
    ];
    for (const [error, code] of cases) {
      const body = payStartBody();
      faults.throwNext("createCheckout", error);
      expect(await hostPost(pgb, "/PGB/PayStart", body), code);
      // The failed attempt does not block the order: the host's retry gets a checkout.
      expect(await hostPost(pgb, "/PGB/PayStart", body), "OK");
    }
  });

  it("maps each PG failure class of a refund to its code; only an unknown outcome keeps the amount reserved", async () => {
    const cases: Array<[ConnectorError, ErrorCode, string]> = [
      [new ConnectorError("declined", "not refundable", "NOT_CANCELABLE", 400), "PG_DECLINED", "10000"],
      [new ConnectorError("retryable", "503", undefined, 503), "PG_UNAVAILABLE", "10000"],
      [new ConnectorError("fatal", "401", undefined, 401), "PG_ERROR", "10000"],
      [new ConnectorError("declined", "needs an account", "REFUND_ACCOUNT_REQUIRED"), "REFUND_ACCOUNT_REQUIRED", "10000"],
      [new ConnectorError("indeterminate", "timed out after sending"), "PG_RESULT_UNKNOWN", "9000"],
    ];
    for (const [error, code, remaining] of cases) {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "10000" });
      faults.throwNext("refund", error);
      expect(await hostPost(pgb, "/PGB/PartialCancel", partial(orderId, "10000", "1000", "9000")), code);
      const view = await hostGet(pgb, `/PGB/Payment?DBType=DEMO&OrderId=${orderId}`);
      assert.equal(view.body.RemainingPrice, remaining, `after ${code}`);
    }
  });

  it("answers a fault inside PGB with INTERNAL_ERROR and no detail", async () => {
    faults.throwNext("createCheckout", new Error("secret internal detail"));
    const r = await hostPost(pgb, "/PGB/PayStart", payStartBody());
    expect(r, "INTERNAL_ERROR");
    assert.doesNotMatch(String(r.body.ErrorMessage), /secret internal detail/);
  });

  it("answers a request reaching an instance that is shutting down with SHUTTING_DOWN and a Retry-After", async () => {
    const shutdownFaults = new Faults();
    const closing = await startPgb(backend, { factories: [faultyTestConnector(shutdownFaults)] });
    const { answer, closed } = await requestDuringClose(closing, shutdownFaults);
    await closed;
    await closing.database.close();
    expect({ status: answer.status, body: answer.body }, "SHUTTING_DOWN");
    assert.equal(answer.headers["retry-after"], "1");
  });

  it("has reached every code of the catalogue", () => {
    const missing = Object.keys(ERROR_CATALOGUE).filter((code) => !seen.has(code));
    assert.deepEqual(missing, []);
  });
});
