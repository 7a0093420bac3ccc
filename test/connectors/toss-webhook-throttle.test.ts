/**
 * Toss signs no webhook, so anyone who knows an orderId can post "its status changed" as often as
 * they like. Each such hint makes PGB read the payment from Toss; forged in bulk they would spend the
 * merchant's API quota. PGB reads a payment at most once per window for unsigned hints, and one more
 * read follows at the window's end so a genuine last word is not lost.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { testConnector } from "../../src/connectors/test-pg/index.ts";
import { tossConnector } from "../../src/connectors/toss/index.ts";
import { backends } from "../support/backends.ts";
import { demoTenant, hostPost, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { TossSimulator } from "../simulators/toss/simulator.ts";

const SECRET_KEY = "test_sk_throttleSimulatorSecret01";
const CLIENT_KEY = "test_ck_throttleSimulatorClient01";
const WINDOW_MS = 4_000;

for (const backend of backends()) {
  describe(`unsigned Toss webhooks on ${backend}`, () => {
    let sim: TossSimulator;
    let pgb: TestPgb;
    before(async () => {
      sim = await TossSimulator.start({ secretKey: SECRET_KEY, clientKey: CLIENT_KEY });
      pgb = await startPgb(backend, {
        factories: [testConnector, tossConnector],
        config: { workers: { webhooks: { unsignedReadWindowMs: WINDOW_MS } } },
        tenants: {
          DEMO: demoTenant({
            routes: [{ nationCode: "KR", payType: "*", pg: "TOSS" }],
            pgs: { TOSS: { secretKey: SECRET_KEY, clientKey: CLIENT_KEY, apiBase: sim.url, sdkScriptUrl: sim.sdkScriptUrl, timeoutMs: 1_000 } },
          }),
        },
      });
    });
    after(async () => {
      await sim.close();
      await pgb.close();
    });

    it("20 forged status-change hints for one payment cost one Toss read at once and one at the window's end, not 20", async () => {
      const started = await hostPost(pgb, "/PGB/PayStart", payStartBody({ NationCode: "KR", TotalPrice: "12000" }));
      assert.equal(started.status, 200, JSON.stringify(started.body));
      const paymentId = String(started.body.PaymentId);
      sim.authorize(paymentId, 12000);
      const template = sim.webhookBodies(paymentId).statusChanged;
      const reads = () => sim.requests.filter((r) => r.method === "GET" && r.path.startsWith("/v1/payments")).length;
      const before = reads();

      const sendingFrom = Date.now();
      for (let i = 0; i < 20; i++) {
        // A forger varies the body so that each hint is a new event.
        const body = { ...template, createdAt: `2026-03-02T10:00:${String(i).padStart(2, "0")}.000000` };
        const response = await fetch(`${pgb.url}/PGBReturn/toss/webhook/DEMO`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        assert.equal(response.status, 200);
      }
      // One read per window the 20 hints spanned (one window unless the machine is very slow).
      const windows = Math.floor((Date.now() - sendingFrom) / WINDOW_MS) + 1;
      const atOnce = reads() - before;
      assert.ok(atOnce >= 1 && atOnce <= windows, `${atOnce} reads for 20 hints over ${windows} window(s)`);
      await sleep(WINDOW_MS + 700);
      assert.equal(reads() - before, atOnce + 1, "one trailing read when the window ends");
      const stored = await pgb.database.db
        .selectFrom("pg_webhooks")
        .select(["body", "error"])
        .where("pg", "=", "TOSS")
        .where("event_id", "like", `%2026-03-02T10:00:%`)
        .execute();
      assert.equal(stored.length, 20, "every hint is stored (deduplicated by event), none is lost");
      assert.ok(
        stored.every((row) => row.body.length <= 512),
        "an unsigned body is kept as an excerpt",
      );
      assert.ok(stored.filter((row) => /coalesced/.test(row.error ?? "")).length >= 18);
    });
  });
}
