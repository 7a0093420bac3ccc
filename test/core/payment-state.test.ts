import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canTransition, notificationFor, PAYMENT_STATUSES, sourcesOf } from "../../src/core/payment-state.ts";
import { routeFor } from "../../src/core/routing.ts";

describe("payment state machine", () => {
  it("lets a payment be completed only from a checkout that is still open", () => {
    assert.deepEqual(sourcesOf("PAID").sort(), ["READY", "WAITING_FOR_DEPOSIT"]);
  });

  it("never leaves a final state", () => {
    for (const final of ["CANCELLED", "FAILED", "EXPIRED", "SUPERSEDED"] as const) {
      for (const to of PAYMENT_STATUSES) assert.equal(canTransition(final, to), false, `${final} → ${to}`);
    }
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
