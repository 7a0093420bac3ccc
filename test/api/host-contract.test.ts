/**
 * The wire contract with the .NET host: bodies exactly as System.Text.Json serialises the host's
 * request classes, and every kind of bad input answered 4xx in the result shape with nothing written.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { backends } from "../support/backends.ts";
import { DEMO_KEY, DEMO_KEY_ROTATED, hostGet, hostPost, newOrderId, OTHER_KEY, payStartBody, startPgb, type TestPgb } from "../support/pgb.ts";

const RESULT_KEYS = ["IsSuccess", "ErrorCode", "ErrorMessage"];

function assertResultShape(body: Record<string, unknown>): void {
  for (const key of RESULT_KEYS) assert.ok(Object.hasOwn(body, key), `result lacks ${key}: ${JSON.stringify(body)}`);
  assert.equal(typeof body.IsSuccess, "boolean");
  assert.equal(typeof body.ErrorCode, "string");
}

async function rowCounts(pgb: TestPgb): Promise<string> {
  const tables = ["payments", "payment_events", "money_movements", "notifications"] as const;
  const counts = await Promise.all(
    tables.map((t) =>
      pgb.database.db
        .selectFrom(t)
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .executeTakeFirstOrThrow(),
    ),
  );
  return counts.map((c, i) => `${tables[i]}=${c.n}`).join(" ");
}

for (const backend of backends()) {
  describe(`host wire contract on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend);
    });
    after(async () => {
      await pgb.close();
    });

    it("accepts PayStart exactly as the .NET host serialises it, with a charset in the content type and null description", async () => {
      const orderId = newOrderId();
      const raw = `{"DBType":"DEMO","OrderId":${orderId},"PayType":"CARD","TotalPrice":"15000","JoinerId":42,"OrderDescription":null,"RedirectUrl":"https://shop.example.com/order/complete?x=1","NationCode":"KR"}`;
      const r = await hostPost(pgb, "/PGB/PayStart", raw);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body).slice(0, 5), ["IsSuccess", "ErrorCode", "ErrorMessage", "RedirectUrl", "Type"]);
      assert.equal(r.body.ErrorMessage, null);
    });

    it("binds property names case-insensitively, as .NET does", async () => {
      const r = await hostPost(pgb, "/PGB/PayStart", {
        dbtype: "DEMO",
        orderid: newOrderId(),
        PAYTYPE: "card",
        totalPrice: "15000",
        joinerID: 1,
        orderDescription: "x",
        redirectUrl: "https://shop.example.com/a",
        nationcode: "kr",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.Type, "TEST");
    });

    it("ignores unknown properties, as .NET does", async () => {
      const r = await hostPost(pgb, "/PGB/PayStart", payStartBody({ SomethingNew: 1 }));
      assert.equal(r.status, 200);
    });

    it("accepts a rotated API key of the same tenant", async () => {
      const r = await hostPost(pgb, "/PGB/PayStart", payStartBody(), { key: DEMO_KEY_ROTATED });
      assert.equal(r.status, 200);
    });

    describe("authentication", () => {
      for (const [name, key, status, code] of [
        ["no Authorization header", null, 401, "UNAUTHORIZED"],
        ["an unknown key", "not-a-key", 401, "UNAUTHORIZED"],
        ["another tenant's key", OTHER_KEY, 403, "TENANT_FORBIDDEN"],
      ] as const) {
        it(`refuses ${name} with ${status} ${code} and writes nothing`, async () => {
          const before = await rowCounts(pgb);
          for (const path of ["/PGB/PayStart", "/PGB/PartialCancel", "/PGB/FullCancel"]) {
            const body =
              path === "/PGB/PayStart"
                ? payStartBody()
                : {
                    DBType: "DEMO",
                    OrderId: 1,
                    RefundPrice: "1",
                    CurrentTotalPrice: "1",
                    ModifiedTotalPrice: "0",
                    JoinerId: 1,
                    NationCode: "KR",
                    PGType: "TEST",
                    PayType: "CARD",
                  };
            const r = await hostPost(pgb, path, body, { key });
            assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
            assert.equal(r.body.ErrorCode, code);
            assertResultShape(r.body);
          }
          assert.equal(await rowCounts(pgb), before);
        });
      }

      it("refuses a Basic or malformed Authorization header", async () => {
        const r = await hostPost(pgb, "/PGB/PayStart", payStartBody(), { key: null, headers: { authorization: `Basic ${DEMO_KEY}` } });
        assert.equal(r.status, 401);
      });

      it("refuses GET /PGB/Payment for another tenant's order", async () => {
        const r = await hostGet(pgb, "/PGB/Payment?DBType=DEMO&OrderId=1", OTHER_KEY);
        assert.equal(r.status, 403);
        assert.equal(r.body.ErrorCode, "TENANT_FORBIDDEN");
      });
    });

    describe("bad input is refused with a 4xx in the result shape and nothing written", () => {
      const cases: Array<[string, Record<string, unknown> | string, number, string]> = [
        ["malformed JSON", '{"DBType":"DEMO",', 400, "INVALID_JSON"],
        ["an empty body", "", 400, "INVALID_JSON"],
        ["a JSON array", "[1,2]", 400, "INVALID_FIELD"],
        ["a missing DBType", payStartBody({ DBType: undefined }), 400, "INVALID_FIELD"],
        ["an unknown DBType", payStartBody({ DBType: "NOPE" }), 403, "TENANT_FORBIDDEN"],
        ["a missing OrderId", payStartBody({ OrderId: undefined }), 400, "INVALID_FIELD"],
        ["OrderId as a string", payStartBody({ OrderId: "12" }), 400, "INVALID_FIELD"],
        ["OrderId zero", payStartBody({ OrderId: 0 }), 400, "INVALID_FIELD"],
        ["OrderId negative", payStartBody({ OrderId: -5 }), 400, "INVALID_FIELD"],
        ["OrderId with a fraction", payStartBody({ OrderId: 1.5 }), 400, "INVALID_FIELD"],
        ["OrderId overflowing int32", payStartBody({ OrderId: 2147483648 }), 400, "INVALID_FIELD"],
        ["JoinerId overflowing int32", payStartBody({ JoinerId: 99999999999 }), 400, "INVALID_FIELD"],
        ["JoinerId as a string", payStartBody({ JoinerId: "42" }), 400, "INVALID_FIELD"],
        ["a missing TotalPrice", payStartBody({ TotalPrice: undefined }), 400, "INVALID_FIELD"],
        ["TotalPrice as a number", payStartBody({ TotalPrice: 15000 }), 400, "INVALID_FIELD"],
        ["TotalPrice null", payStartBody({ TotalPrice: null }), 400, "INVALID_FIELD"],
        ["TotalPrice negative", payStartBody({ TotalPrice: "-100" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice zero", payStartBody({ TotalPrice: "0" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice with decimals KRW lacks", payStartBody({ TotalPrice: "15000.5" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice with trailing zero decimals KRW lacks", payStartBody({ TotalPrice: "15000.00" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice with three decimals in USD", payStartBody({ NationCode: "US", TotalPrice: "19.999" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice in exponent notation", payStartBody({ TotalPrice: "1e5" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice with a thousands separator", payStartBody({ TotalPrice: "15,000" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice with spaces", payStartBody({ TotalPrice: " 15000" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice overflowing", payStartBody({ TotalPrice: "99999999999999999999" }), 400, "INVALID_AMOUNT"],
        ["TotalPrice as text", payStartBody({ TotalPrice: "abc" }), 400, "INVALID_AMOUNT"],
        ["an unknown NationCode", payStartBody({ NationCode: "ZZ" }), 400, "UNSUPPORTED_NATION"],
        ["a missing NationCode", payStartBody({ NationCode: null }), 400, "INVALID_FIELD"],
        ["an unknown PayType", payStartBody({ PayType: "BITCOIN" }), 400, "UNSUPPORTED_PAY_TYPE"],
        ["PayType as a number", payStartBody({ PayType: 1 }), 400, "INVALID_FIELD"],
        ["a RedirectUrl on another origin", payStartBody({ RedirectUrl: "https://evil.example.net/x" }), 400, "REDIRECT_URL_NOT_ALLOWED"],
        ["a RedirectUrl on a look-alike origin", payStartBody({ RedirectUrl: "https://shop.example.com.evil.net/x" }), 400, "REDIRECT_URL_NOT_ALLOWED"],
        ["a RedirectUrl over plain http to an https origin", payStartBody({ RedirectUrl: "http://shop.example.com/x" }), 400, "REDIRECT_URL_NOT_ALLOWED"],
        ["a javascript: RedirectUrl", payStartBody({ RedirectUrl: "javascript:alert(1)" }), 400, "REDIRECT_URL_NOT_ALLOWED"],
        ["a relative RedirectUrl", payStartBody({ RedirectUrl: "/order/complete" }), 400, "REDIRECT_URL_NOT_ALLOWED"],
        ["a RedirectUrl with credentials", payStartBody({ RedirectUrl: "https://user:pw@shop.example.com/x" }), 400, "REDIRECT_URL_NOT_ALLOWED"],
        ["an over-long OrderDescription", payStartBody({ OrderDescription: "x".repeat(501) }), 400, "INVALID_FIELD"],
        ["two casings of one property with different values", { ...payStartBody(), dbtype: "OTHER" }, 400, "INVALID_FIELD"],
      ];
      for (const [name, body, status, code] of cases) {
        it(`refuses ${name} on PayStart with ${status} ${code}`, async () => {
          const before = await rowCounts(pgb);
          const r = await hostPost(pgb, "/PGB/PayStart", body);
          assert.equal(r.status, status, JSON.stringify(r.body));
          assert.equal(r.body.ErrorCode, code, JSON.stringify(r.body));
          assert.equal(r.body.IsSuccess, false);
          assertResultShape(r.body);
          assert.equal(await rowCounts(pgb), before);
        });
      }

      it("refuses a 2 MB body with 413 BODY_TOO_LARGE", async () => {
        const before = await rowCounts(pgb);
        const r = await hostPost(pgb, "/PGB/PayStart", JSON.stringify(payStartBody({ OrderDescription: "x".repeat(2 * 1024 * 1024) })));
        assert.equal(r.status, 413);
        assert.equal(r.body.ErrorCode, "BODY_TOO_LARGE");
        assert.equal(await rowCounts(pgb), before);
      });

      it("refuses a form-encoded body with 415 UNSUPPORTED_MEDIA_TYPE", async () => {
        const r = await hostPost(pgb, "/PGB/PayStart", "DBType=DEMO", { headers: { "content-type": "application/x-www-form-urlencoded" } });
        assert.equal(r.status, 415);
        assert.equal(r.body.ErrorCode, "UNSUPPORTED_MEDIA_TYPE");
      });

      const cancelCases: Array<[string, string, Record<string, unknown>, string]> = [
        ["PartialCancel with RefundPrice as a number", "/PGB/PartialCancel", { RefundPrice: 100 }, "INVALID_FIELD"],
        ["PartialCancel with a negative RefundPrice", "/PGB/PartialCancel", { RefundPrice: "-100" }, "INVALID_AMOUNT"],
        ["PartialCancel with a zero RefundPrice", "/PGB/PartialCancel", { RefundPrice: "0" }, "INVALID_AMOUNT"],
        ["PartialCancel with a negative ModifiedTotalPrice", "/PGB/PartialCancel", { ModifedTotalPrice: "-1" }, "INVALID_AMOUNT"],
        ["PartialCancel without any ModifiedTotalPrice spelling", "/PGB/PartialCancel", { ModifedTotalPrice: undefined }, "INVALID_FIELD"],
        ["PartialCancel with both spellings disagreeing", "/PGB/PartialCancel", { ModifiedTotalPrice: "5" }, "INVALID_FIELD"],
        ["PartialCancel with too many decimals", "/PGB/PartialCancel", { RefundPrice: "1.5" }, "INVALID_AMOUNT"],
        ["PartialCancel with an unknown nation", "/PGB/PartialCancel", { NationCode: "XX" }, "UNSUPPORTED_NATION"],
        ["FullCancel with CurrentTotalPrice fractional number", "/PGB/FullCancel", { CurrentTotalPrice: 10.5 }, "INVALID_FIELD"],
        ["FullCancel with CurrentTotalPrice overflowing int32", "/PGB/FullCancel", { CurrentTotalPrice: 3000000000 }, "INVALID_FIELD"],
        ["FullCancel with a negative CurrentTotalPrice", "/PGB/FullCancel", { CurrentTotalPrice: -1 }, "INVALID_FIELD"],
        ["FullCancel with a zero CurrentTotalPrice", "/PGB/FullCancel", { CurrentTotalPrice: 0 }, "INVALID_AMOUNT"],
        ["FullCancel without PGType", "/PGB/FullCancel", { PGType: null }, "INVALID_FIELD"],
        ["a bad Idempotency-Key", "/PGB/PartialCancel", { __key: "has spaces in it" }, "INVALID_FIELD"],
      ];
      for (const [name, path, change, code] of cancelCases) {
        it(`refuses ${name} with ${code}`, async () => {
          const base =
            path === "/PGB/PartialCancel"
              ? { DBType: "DEMO", OrderId: 5, RefundPrice: "100", CurrentTotalPrice: "1000", ModifedTotalPrice: "900", JoinerId: 1, NationCode: "KR" }
              : { DbType: "DEMO", OrderId: 5, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: 1000, JoinerId: 1, NationCode: "KR" };
          const { __key, ...fields } = change;
          const before = await rowCounts(pgb);
          const r = await hostPost(pgb, path, { ...base, ...fields }, __key ? { headers: { "idempotency-key": String(__key) } } : {});
          assert.ok(r.status >= 400 && r.status < 500, JSON.stringify(r.body));
          assert.equal(r.body.ErrorCode, code, JSON.stringify(r.body));
          assertResultShape(r.body);
          assert.equal(await rowCounts(pgb), before);
        });
      }
    });

    it("answers an unknown route with NOT_FOUND in the result shape", async () => {
      const r = await hostPost(pgb, "/PGB/Nope", {});
      assert.equal(r.status, 404);
      assert.equal(r.body.ErrorCode, "NOT_FOUND");
    });

    it("answers GET /PGB/Payment for an unknown order with ORDER_NOT_FOUND and validates its query", async () => {
      const missing = await hostGet(pgb, "/PGB/Payment?DBType=DEMO&OrderId=123456789");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.ErrorCode, "ORDER_NOT_FOUND");
      const bad = await hostGet(pgb, "/PGB/Payment?DBType=DEMO&OrderId=abc");
      assert.equal(bad.status, 400);
      assert.equal(bad.body.ErrorCode, "INVALID_FIELD");
      const lower = await hostGet(pgb, "/PGB/Payment?dbtype=DEMO&orderid=123456789");
      assert.equal(lower.body.ErrorCode, "ORDER_NOT_FOUND");
    });

    it("refuses a PayStart no route covers with NO_ROUTE", async () => {
      // DEMO routes VIRTUAL_ACCOUNT only for KR.
      const r = await hostPost(pgb, "/PGB/PayStart", payStartBody({ NationCode: "JP", PayType: "VIRTUAL_ACCOUNT" }));
      assert.equal(r.status, 422);
      assert.equal(r.body.ErrorCode, "NO_ROUTE");
    });
  });
}
