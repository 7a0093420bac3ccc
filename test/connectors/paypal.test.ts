/**
 * The PayPal connector against its simulator, for what the conformance battery and the browser test
 * do not show: routes to currencies PayPal refuses fail at start, the OAuth token is reused until
 * it expires and fetched again on 401, and every POST carries a PayPal-Request-Id.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { routeCapabilityProblem } from "../../src/core/ports/capabilities.ts";
import { PAYPAL_CAPABILITIES } from "../../src/connectors/paypal/capabilities.ts";
import { paypalConnector } from "../../src/connectors/paypal/index.ts";
import { systemClock } from "../../src/core/system-clock.ts";
import { migrate, type DatabaseHandle } from "../../src/storage/database.ts";
import { connectorStorageOf } from "../../src/storage/connector-storage.ts";
import { openTestDatabase } from "../support/backends.ts";
import { PayPalSimulator } from "../simulators/paypal/simulator.ts";
import type { CheckoutInput } from "../../src/core/ports/connector.ts";
import { brand, type PaymentId } from "../../src/core/ids.ts";

describe("PayPal connector", () => {
  let sim: PayPalSimulator;
  let db: DatabaseHandle;

  before(async () => {
    sim = await PayPalSimulator.start({ tokenTtlSeconds: 3600 });
    db = await openTestDatabase("pglite");
    await migrate(db.db, paypalConnector.migrations);
  });
  after(async () => {
    await sim.close();
    await db.close();
  });

  const connector = () =>
    paypalConnector.create(
      paypalConnector.settingsSchema.parse({
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
        webhookId: sim.webhookId,
        apiBase: sim.url,
        certOrigins: [sim.url],
      }),
      {
        tenant: "SHOP",
        deps: { storage: connectorStorageOf(db.db), logger: pino({ level: "silent" }), publicUrl: "http://pgb.test", clock: systemClock },
      },
    );
  let seq = 0;
  const checkoutInput = (): CheckoutInput => {
    const paymentId = `pay_paypal_test_${++seq}_${Date.now()}`;
    return {
      paymentId: brand<PaymentId>(paymentId),
      tenant: "SHOP",
      orderId: seq,
      joinerId: 7,
      amount: { minor: 1999n, currency: "USD" },
      payType: "PAYPAL",
      nationCode: "US",
      description: "Tour",
      returnUrl: `http://pgb.test/PGBReturn/paypal/return/${paymentId}`,
      webhookUrl: "http://pgb.test/PGBReturn/paypal/webhook/SHOP",
      expiresAt: new Date(Date.now() + 3_600_000),
      idempotencyKey: `paystart-${paymentId}`,
    };
  };

  it("refuses at start a route to a currency PayPal does not take (KRW, VND), and takes USD, JPY, EUR", () => {
    assert.match(routeCapabilityProblem({ nationCode: "KR", payType: "PAYPAL", pg: "PAYPAL" }, PAYPAL_CAPABILITIES) ?? "", /nation KR pays in KRW/);
    assert.match(routeCapabilityProblem({ nationCode: "VN", payType: "*", pg: "PAYPAL" }, PAYPAL_CAPABILITIES) ?? "", /VND/);
    for (const nationCode of ["US", "JP", "DE"])
      assert.equal(routeCapabilityProblem({ nationCode, payType: "PAYPAL", pg: "PAYPAL" }, PAYPAL_CAPABILITIES), undefined);
  });

  it("reuses its token, fetches a new one when PayPal says it expired, and sends a PayPal-Request-Id with every POST", async () => {
    const paypal = connector();
    const tokens = () => sim.requests.filter((r) => r.path === "/v1/oauth2/token").length;
    const before = tokens();
    const first = await paypal.createCheckout(checkoutInput());
    await paypal.fetchPayment({ pgTransactionId: first.pgTransactionId, paymentReference: brand<PaymentId>("x") });
    assert.equal(tokens() - before, 1, "one token for several calls");
    // PayPal's clock passes the token's life, before PGB's margin would have renewed it.
    sim.advanceClock(3600);
    const second = await paypal.createCheckout(checkoutInput());
    assert.equal(tokens() - before, 2, "a new token after PayPal's 401 invalid_token");
    assert.ok(
      sim.requests.some((r) => r.status === 401),
      "PayPal refused the expired token once",
    );
    assert.equal(sim.orders.get(second.pgTransactionId)?.status, "PAYER_ACTION_REQUIRED");
    const posts = sim.requests.filter((r) => r.method === "POST" && r.path !== "/v1/oauth2/token");
    assert.ok(posts.length >= 3 && posts.every((r) => r.requestId !== undefined));
  });
});
