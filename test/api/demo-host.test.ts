/**
 * The demo host (config demoHost) is a toy, so it must not be a way in: it acts only on its own DEMO
 * tenant, keeps and shows only notifications whose signature verifies, and answers bad input with 4xx.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { backends } from "../support/backends.ts";
import { demoTenant, freePort, NOTIFY_SECRET, OTHER_KEY, startPgb, type TestPgb } from "../support/pgb.ts";

const SHOP_NOTIFY_SECRET = "whsec_c2hvcC1ub3RpZnktc2VjcmV0LTU2Nzg5MDEy";

for (const backend of backends()) {
  describe(`the demo host on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      pgb = await startPgb(backend, {
        port,
        config: { demoHost: true },
        // SHOP first: the demo host used to act on whichever tenant came first.
        tenants: {
          SHOP: demoTenant({ apiKeys: [OTHER_KEY], notifySecret: SHOP_NOTIFY_SECRET, redirectOrigins: [url] }),
          DEMO: demoTenant({ redirectOrigins: [url] }),
        },
      });
    });
    after(async () => {
      await pgb.close();
    });

    const form = (fields: Record<string, string>) =>
      fetch(`${pgb.url}/demo/buy`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields).toString(),
        redirect: "manual",
      });

    it("answers /demo/buy with no body or a bad form with 400, not 500", async () => {
      const empty = await fetch(`${pgb.url}/demo/buy`, { method: "POST", redirect: "manual" });
      assert.equal(empty.status, 400);
      assert.equal((await form({ OrderId: "not-a-number", TotalPrice: "1", NationCode: "KR", PayType: "CARD" })).status, 400);
    });

    it("starts payments for the DEMO tenant only, whatever tenant comes first in the config", async () => {
      const orderId = 7_000_001;
      const bought = await form({ OrderId: String(orderId), TotalPrice: "15000", NationCode: "KR", PayType: "CARD" });
      assert.equal(bought.status, 303);
      assert.match(bought.headers.get("location") ?? "", /\/test-pg\/checkout\/tp_/);
      const rows = await pgb.database.db.selectFrom("payments").select(["tenant"]).where("order_id", "=", orderId).execute();
      assert.deepEqual(
        rows.map((r) => r.tenant),
        ["DEMO"],
      );
    });

    it("refuses notifications that do not verify with DEMO's secret, and shows only verified ones", async () => {
      const post = (body: string, secret?: string) => {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (secret !== undefined) {
          const id = `msg_${Math.random().toString(36).slice(2)}`;
          const at = new Date();
          Object.assign(headers, {
            "webhook-id": id,
            "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
            "webhook-signature": new Webhook(secret).sign(id, at, body),
          });
        }
        return fetch(`${pgb.url}/demo/notify`, { method: "POST", headers, body });
      };
      assert.equal((await post('{"Type":"UNSIGNED-MARK"}')).status, 401);
      assert.equal((await post('{"Type":"OTHER-TENANT-MARK"}', SHOP_NOTIFY_SECRET)).status, 401);
      assert.equal((await post('{"Type":"GENUINE-MARK"}', NOTIFY_SECRET)).status, 204);
      const page = await (await fetch(`${pgb.url}/demo`)).text();
      assert.ok(page.includes("GENUINE-MARK"));
      assert.ok(!page.includes("UNSIGNED-MARK"));
      assert.ok(!page.includes("OTHER-TENANT-MARK"));
    });
  });
}
