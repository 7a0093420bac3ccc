import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildApp } from "../../src/app.ts";
import { ConfigError } from "../../src/config/config.ts";
import { routeCapabilityProblem } from "../../src/core/ports/capabilities.ts";
import { STRIPE_CAPABILITIES } from "../../src/connectors/stripe/capabilities.ts";
import { TOSS_CAPABILITIES } from "../../src/connectors/toss/capabilities.ts";
import { demoTenant, testConfig } from "../support/pgb.ts";
import { openTestDatabase } from "../support/backends.ts";

const TOSS = { secretKey: "test_sk_route_check", clientKey: "test_ck_route_check" };

describe("routes checked against each PG's capabilities at start", () => {
  it("stops PGB naming the route that sends US/CARD to TOSS, which settles in KRW only", async () => {
    const config = testConfig("http://127.0.0.1:9", {
      tenants: {
        DEMO: demoTenant({
          routes: [
            { nationCode: "KR", payType: "*", pg: "TOSS" },
            { nationCode: "US", payType: "CARD", pg: "TOSS" },
          ],
          pgs: { TOSS },
        }),
      },
    });
    const database = await openTestDatabase("pglite");
    try {
      await assert.rejects(
        buildApp({ config, database }),
        (error: Error) =>
          error instanceof ConfigError &&
          error.message === "config tenants.DEMO.routes[1] (US/CARD → TOSS): TOSS settles only in KRW, and nation US pays in USD",
      );
    } finally {
      await database.close();
    }
  });

  it("starts with Korea routed to TOSS for every pay type it takes", async () => {
    const config = testConfig("http://127.0.0.1:9", {
      tenants: { DEMO: demoTenant({ routes: [{ nationCode: "KR", payType: "*", pg: "TOSS" }], pgs: { TOSS } }) },
    });
    const database = await openTestDatabase("pglite");
    try {
      const pgb = await buildApp({ config, database });
      await pgb.app.close();
    } finally {
      await database.close();
    }
  });

  it("refuses a catch-all nation on a one-currency PG and a pay type the PG does not take", () => {
    assert.equal(
      routeCapabilityProblem({ nationCode: "*", payType: "CARD", pg: "TOSS" }, TOSS_CAPABILITIES),
      "TOSS settles only in KRW, and nation * also reaches JPY",
    );
    assert.equal(
      routeCapabilityProblem({ nationCode: "KR", payType: "PAYPAL", pg: "TOSS" }, TOSS_CAPABILITIES),
      "TOSS does not take PayType PAYPAL (it takes CARD, EASY_PAY, VIRTUAL_ACCOUNT, TRANSFER, MOBILE_PHONE)",
    );
    assert.equal(routeCapabilityProblem({ nationCode: "KR", payType: "VIRTUAL_ACCOUNT", pg: "TOSS" }, TOSS_CAPABILITIES), undefined);
    assert.equal(routeCapabilityProblem({ nationCode: "*", payType: "*", pg: "STRIPE" }, STRIPE_CAPABILITIES), undefined);
  });
});
