/**
 * The PayPal simulator driven over HTTP as PGB's connector will drive it: token, order, approval
 * page, capture, PayPal-Request-Id replay, errors in PayPal's shape, refunds, after-the-fact changes,
 * signed webhooks checked independently (certificate) and through verify-webhook-signature, faults.
 */
import assert from "node:assert/strict";
import { createVerify, X509Certificate } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { crc32 } from "node:zlib";
import { fromPayPalAmount, toPayPalAmount } from "../../../src/connectors/paypal/payment-transformers.ts";
import { isAllowedCertUrl, readTransmissionHeaders, verifyPayPalTransmission } from "../../../src/connectors/paypal/webhook-transformers.ts";
import { money } from "../../../src/core/money.ts";
import { PayPalSimulator } from "./simulator.ts";

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Json {
  // Wire bodies are read ad hoc in assertions.
  [key: string]: any;
}

describe("PayPal simulator", () => {
  let sim: PayPalSimulator;
  let receiver: http.Server;
  let received: Received[] = [];
  let token = "";
  const returnUrl = "http://127.0.0.1:9/PGBReturn/paypal/return/pay_1";
  const cancelUrl = "http://127.0.0.1:9/PGBReturn/paypal/cancel/pay_1";

  before(async () => {
    sim = await PayPalSimulator.start({ tokenTtlSeconds: 600 });
    receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    sim.configureWebhook(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/PGBReturn/paypal/webhook/SHOP`);
    token = await getToken();
  });

  after(async () => {
    await sim.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  beforeEach(async () => {
    await sim.waitForWebhooks();
    received = [];
  });

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

  async function getToken(): Promise<string> {
    const response = await fetch(`${sim.url}/v1/oauth2/token`, {
      method: "POST",
      headers: { authorization: basic(sim.clientId, sim.clientSecret), "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    assert.equal(response.status, 200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  async function api(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Json; headers: Headers }> {
    const response = await fetch(`${sim.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === "" ? {} : (JSON.parse(text) as Json), headers: response.headers };
  }

  const orderBody = (amount: unknown = { currency_code: "USD", value: "19.99" }, extra: Json = {}) => ({
    intent: "CAPTURE",
    purchase_units: [{ reference_id: "default", amount, custom_id: "pay_1", invoice_id: `pay_${Math.random().toString(36).slice(2)}`, description: "Tour" }],
    payment_source: {
      paypal: { experience_context: { return_url: returnUrl, cancel_url: cancelUrl, user_action: "PAY_NOW", shipping_preference: "NO_SHIPPING" } },
    },
    ...extra,
  });

  async function createOrder(amount?: unknown, extra?: Json): Promise<string> {
    const created = await api("POST", "/v2/checkout/orders", orderBody(amount, extra), { "paypal-request-id": crypto.randomUUID() });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id as string;
  }

  /** The buyer's choice on the approval page, as a browser's form POST. Answers the redirect target. */
  async function choose(orderId: string, choice: string): Promise<{ status: number; location: string | null }> {
    const page = await fetch(`${sim.url}/checkoutnow?token=${orderId}`);
    assert.equal(page.status, 200);
    const html = await page.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, "the page has a form");
    assert.ok(html.includes(`value="${choice}"`), `the page offers ${choice}`);
    const response = await fetch(new URL(action.replaceAll("&amp;", "&"), sim.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `choice=${choice}`,
      redirect: "manual",
    });
    return { status: response.status, location: response.headers.get("location") };
  }

  async function capture(orderId: string, requestId: string = crypto.randomUUID()) {
    return api("POST", `/v2/checkout/orders/${orderId}/capture`, {}, { "paypal-request-id": requestId, prefer: "return=representation" });
  }

  async function paidCapture(amount?: unknown): Promise<{ orderId: string; captureId: string }> {
    const orderId = await createOrder(amount);
    sim.approve(orderId);
    const captured = await capture(orderId);
    assert.equal(captured.status, 201);
    return { orderId, captureId: captured.body.purchase_units[0].payments.captures[0].id as string };
  }

  /** Waits for the simulator's deliveries, then answers the events received, by type. */
  async function webhooks(): Promise<Array<{ type: string; event: Json; raw: Received }>> {
    await sim.waitForWebhooks();
    return received.map((r) => {
      const event = JSON.parse(r.body) as Json;
      return { type: event.event_type as string, event, raw: r };
    });
  }

  /** PayPal's documented certificate check, written here without the simulator's helpers. */
  async function verifiesByCertificate(r: Received, webhookId: string): Promise<boolean> {
    const header = (name: string) => String(r.headers[name]);
    const certificate = new X509Certificate(await (await fetch(header("paypal-cert-url"))).text());
    const message = `${header("paypal-transmission-id")}|${header("paypal-transmission-time")}|${webhookId}|${crc32(r.body) >>> 0}`;
    return (
      header("paypal-auth-algo") === "SHA256withRSA" &&
      createVerify("RSA-SHA256").update(message).verify(certificate.publicKey, header("paypal-transmission-sig"), "base64")
    );
  }

  async function verifyCall(r: Received, overrides: Json = {}) {
    const header = (name: string) => String(r.headers[name]);
    return api("POST", "/v1/notifications/verify-webhook-signature", {
      auth_algo: header("paypal-auth-algo"),
      cert_url: header("paypal-cert-url"),
      transmission_id: header("paypal-transmission-id"),
      transmission_sig: header("paypal-transmission-sig"),
      transmission_time: header("paypal-transmission-time"),
      webhook_id: sim.webhookId,
      webhook_event: JSON.parse(r.body) as unknown,
      ...overrides,
    });
  }

  describe("OAuth2", () => {
    it("issues a Bearer token for the client credentials, with expires_in", async () => {
      const response = await fetch(`${sim.url}/v1/oauth2/token`, {
        method: "POST",
        headers: { authorization: basic(sim.clientId, sim.clientSecret), "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials",
      });
      const body = (await response.json()) as Json;
      assert.equal(body.token_type, "Bearer");
      assert.equal(body.expires_in, 600);
      assert.ok(body.access_token.length > 20);
    });

    it("refuses wrong credentials (invalid_client) and a missing grant type", async () => {
      const wrong = await fetch(`${sim.url}/v1/oauth2/token`, {
        method: "POST",
        headers: { authorization: basic(sim.clientId, "nope") },
        body: "grant_type=client_credentials",
      });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as Json).error, "invalid_client");
      const noGrant = await fetch(`${sim.url}/v1/oauth2/token`, {
        method: "POST",
        headers: { authorization: basic(sim.clientId, sim.clientSecret) },
        body: "",
      });
      assert.equal(noGrant.status, 400);
      assert.equal(((await noGrant.json()) as Json).error, "unsupported_grant_type");
    });

    it("answers 401 AUTHENTICATION_FAILURE without a token and invalid_token for an unknown or expired one", async () => {
      const none = await fetch(`${sim.url}/v2/checkout/orders/X`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as Json).name, "AUTHENTICATION_FAILURE");
      const unknown = await fetch(`${sim.url}/v2/checkout/orders/X`, { headers: { authorization: "Bearer A21AAnotatoken" } });
      assert.equal(unknown.status, 401);
      assert.equal(((await unknown.json()) as Json).error, "invalid_token");

      const shortLived = await getToken();
      sim.advanceClock(601);
      try {
        const expired = await fetch(`${sim.url}/v2/checkout/orders/X`, { headers: { authorization: `Bearer ${shortLived}` } });
        assert.equal(expired.status, 401);
        assert.deepEqual(await expired.json(), { error: "invalid_token", error_description: "The token passed in was expired" });
        token = await getToken();
        assert.equal((await api("GET", "/v2/checkout/orders/X")).status, 404, "a fresh token works again");
      } finally {
        sim.advanceClock(-601);
        token = await getToken();
      }
    });
  });

  describe("orders", () => {
    it("creates an order with experience_context: minimal answer, PAYER_ACTION_REQUIRED and a payer-action link", async () => {
      const created = await api("POST", "/v2/checkout/orders", orderBody(), { "paypal-request-id": crypto.randomUUID() });
      assert.equal(created.status, 201);
      assert.equal(created.body.status, "PAYER_ACTION_REQUIRED");
      assert.equal(created.body.purchase_units, undefined, "minimal by default");
      const link = (created.body.links as Json[]).find((l) => l.rel === "payer-action");
      assert.equal(link?.href, `${sim.url}/checkoutnow?token=${created.body.id}`);

      const read = await api("GET", `/v2/checkout/orders/${created.body.id}`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.body.purchase_units[0].amount, { currency_code: "USD", value: "19.99" });
      assert.equal(read.body.purchase_units[0].custom_id, "pay_1");
      assert.equal(read.body.intent, "CAPTURE");
    });

    it("creates an order with the legacy application_context: CREATED and an approve link", async () => {
      const body = {
        intent: "CAPTURE",
        purchase_units: [{ amount: { currency_code: "EUR", value: "5.00" } }],
        application_context: { return_url: returnUrl, cancel_url: cancelUrl },
      };
      const created = await api("POST", "/v2/checkout/orders", body, { prefer: "return=representation" });
      assert.equal(created.body.status, "CREATED");
      assert.ok((created.body.links as Json[]).some((l) => l.rel === "approve"));
      assert.equal(created.body.purchase_units[0].amount.value, "5.00");
    });

    it("replays a create with the same PayPal-Request-Id: one order, 200", async () => {
      const requestId = crypto.randomUUID();
      const first = await api("POST", "/v2/checkout/orders", orderBody(), { "paypal-request-id": requestId });
      const second = await api("POST", "/v2/checkout/orders", orderBody(), { "paypal-request-id": requestId });
      assert.equal(first.status, 201);
      assert.equal(second.status, 200);
      assert.equal(second.body.id, first.body.id);
      assert.equal([...sim.orders.values()].filter((o) => o.id === first.body.id).length, 1);
      assert.ok(sim.requests.some((r) => r.requestId === requestId && r.replayed));
    });

    it("refuses currencies PayPal does not take and amounts finer than PayPal's unit, in PayPal's error shape", async () => {
      const cases: Array<[unknown, number, string]> = [
        [{ currency_code: "KRW", value: "10000" }, 422, "CURRENCY_NOT_SUPPORTED"],
        [{ currency_code: "VND", value: "10000" }, 422, "CURRENCY_NOT_SUPPORTED"],
        [{ currency_code: "JPY", value: "100.5" }, 422, "DECIMALS_NOT_SUPPORTED"],
        [{ currency_code: "TWD", value: "100.50" }, 422, "DECIMALS_NOT_SUPPORTED"],
        [{ currency_code: "USD", value: "1.001" }, 422, "DECIMAL_PRECISION"],
        [{ currency_code: "USD", value: "0.00" }, 422, "CANNOT_BE_ZERO_OR_NEGATIVE"],
        [{ currency_code: "USD", value: "1e3" }, 400, "INVALID_PARAMETER_SYNTAX"],
        [{ currency_code: "USD", value: "10.00", breakdown: { item_total: { currency_code: "USD", value: "9.00" } } }, 422, "AMOUNT_MISMATCH"],
      ];
      for (const [amount, status, issue] of cases) {
        const answer = await api("POST", "/v2/checkout/orders", orderBody(amount));
        assert.equal(answer.status, status, JSON.stringify(amount));
        assert.equal(answer.body.name, status === 422 ? "UNPROCESSABLE_ENTITY" : "INVALID_REQUEST");
        assert.equal(answer.body.details[0].issue, issue, JSON.stringify(amount));
        assert.match(answer.body.details[0].field, /amount/);
        assert.match(answer.body.debug_id, /^[0-9a-f]{13}$/);
        assert.equal(answer.headers.get("paypal-debug-id"), answer.body.debug_id);
        assert.ok((answer.body.links as Json[]).some((l) => l.rel === "information_link"));
      }
    });

    it("takes what PGB's transformers print for zero-decimal currencies and answers amounts they read back exactly", async () => {
      for (const m of [money(150000n, "TWD"), money(1500n, "JPY"), money(990000n, "HUF"), money(1999n, "USD")]) {
        const { orderId } = await paidCapture(toPayPalAmount(m));
        const order = await api("GET", `/v2/checkout/orders/${orderId}`);
        assert.deepEqual(fromPayPalAmount(order.body.purchase_units[0].payments.captures[0].amount as { currency_code: string; value: string }), m);
      }
    });

    it("answers 404 INVALID_RESOURCE_ID for an unknown order and 400 MALFORMED_REQUEST_JSON for a broken body", async () => {
      const missing = await api("GET", "/v2/checkout/orders/NOSUCHORDER00000");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.name, "RESOURCE_NOT_FOUND");
      assert.equal(missing.body.details[0].issue, "INVALID_RESOURCE_ID");
      const broken = await api("POST", "/v2/checkout/orders", "{not json");
      assert.equal(broken.status, 400);
      assert.equal(broken.body.details[0].issue, "MALFORMED_REQUEST_JSON");
    });
  });

  describe("approval and capture", () => {
    it("runs the life of a payment: not approved → page → approved → captured once, replayed, never twice", async () => {
      const orderId = await createOrder();
      const early = await capture(orderId);
      assert.equal(early.status, 422);
      assert.equal(early.body.details[0].issue, "ORDER_NOT_APPROVED");

      const page = await (await fetch(`${sim.url}/checkoutnow?token=${orderId}`)).text();
      assert.match(page, /19\.99 USD/);
      const approved = await choose(orderId, "approve");
      assert.equal(approved.status, 303);
      const back = new URL(approved.location!);
      assert.equal(`${back.origin}${back.pathname}`, returnUrl);
      assert.equal(back.searchParams.get("token"), orderId);
      assert.ok(back.searchParams.get("PayerID"));
      assert.equal((await api("GET", `/v2/checkout/orders/${orderId}`)).body.status, "APPROVED");

      const requestId = crypto.randomUUID();
      const captured = await capture(orderId, requestId);
      assert.equal(captured.status, 201);
      assert.equal(captured.body.status, "COMPLETED");
      const cap = captured.body.purchase_units[0].payments.captures[0] as Json;
      assert.equal(cap.status, "COMPLETED");
      assert.deepEqual(cap.amount, { currency_code: "USD", value: "19.99" });
      assert.equal(cap.custom_id, "pay_1");
      assert.equal(cap.final_capture, true);
      assert.ok((cap.links as Json[]).some((l) => l.rel === "refund"));

      const replay = await capture(orderId, requestId);
      assert.equal(replay.status, 200);
      assert.equal(replay.body.purchase_units[0].payments.captures[0].id, cap.id);
      const again = await capture(orderId);
      assert.equal(again.status, 422);
      assert.equal(again.body.details[0].issue, "ORDER_ALREADY_CAPTURED");
      assert.equal([...sim.captures.values()].filter((c) => c.orderId === orderId).length, 1);

      const read = await api("GET", `/v2/payments/captures/${cap.id}`);
      assert.equal(read.body.supplementary_data.related_ids.order_id, orderId);
      assert.equal(read.body.seller_receivable_breakdown.gross_amount.value, "19.99");

      const events = await webhooks();
      assert.deepEqual(
        events.map((e) => e.type),
        ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"],
      );
      assert.equal(events[0]!.event.resource.id, orderId);
      assert.equal(events[1]!.event.resource.id, cap.id);
      const pagePaid = await fetch(`${sim.url}/checkoutnow?token=${orderId}`);
      assert.equal(pagePaid.status, 409, "a captured order can no longer be approved");
    });

    it("sends a cancelling buyer to cancel_url and leaves the order unapproved", async () => {
      const orderId = await createOrder();
      const cancelled = await choose(orderId, "cancel");
      assert.equal(cancelled.status, 303);
      assert.equal(cancelled.location, `${cancelUrl}?token=${orderId}`);
      assert.equal((await api("GET", `/v2/checkout/orders/${orderId}`)).body.status, "PAYER_ACTION_REQUIRED");
      assert.equal((await capture(orderId)).body.details[0].issue, "ORDER_NOT_APPROVED");
    });

    it("answers INSTRUMENT_DECLINED for a declined card with a link back to PayPal, and captures after the buyer approves again", async () => {
      const orderId = await createOrder();
      await choose(orderId, "decline");
      const declined = await capture(orderId);
      assert.equal(declined.status, 422);
      assert.equal(declined.body.details[0].issue, "INSTRUMENT_DECLINED");
      assert.equal((declined.body.links as Json[]).find((l) => l.rel === "redirect")?.href, `${sim.url}/checkoutnow?token=${orderId}`);
      assert.equal(
        [...sim.captures.values()].some((c) => c.orderId === orderId),
        false,
      );
      await choose(orderId, "approve");
      const captured = await capture(orderId);
      assert.equal(captured.status, 201);
      assert.equal(captured.body.purchase_units[0].payments.captures[0].status, "COMPLETED");
    });

    it("leaves an eCheck capture PENDING until it clears or is denied, with webhooks for each", async () => {
      const clears = await createOrder();
      await choose(clears, "echeck");
      const pending = await capture(clears);
      const cap = pending.body.purchase_units[0].payments.captures[0] as Json;
      assert.equal(pending.body.status, "COMPLETED", "the order completes even though the money has not");
      assert.equal(cap.status, "PENDING");
      assert.equal(cap.status_details.reason, "ECHECK");
      const refund = await api("POST", `/v2/payments/captures/${cap.id}/refund`, {});
      assert.equal(refund.body.details[0].issue, "PENDING_CAPTURE");
      sim.completePendingCapture(cap.id as string);
      assert.equal((await api("GET", `/v2/payments/captures/${cap.id}`)).body.status, "COMPLETED");

      const bounces = await createOrder();
      await choose(bounces, "echeck");
      const capB = (await capture(bounces)).body.purchase_units[0].payments.captures[0] as Json;
      sim.denyPendingCapture(capB.id as string);
      assert.equal((await api("GET", `/v2/payments/captures/${capB.id}`)).body.status, "DECLINED");
      assert.equal((await api("GET", `/v2/checkout/orders/${bounces}`)).body.purchase_units[0].payments.captures[0].status, "DECLINED");

      const types = (await webhooks()).map((e) => e.type);
      assert.deepEqual(types, [
        "CHECKOUT.ORDER.APPROVED",
        "PAYMENT.CAPTURE.PENDING",
        "PAYMENT.CAPTURE.COMPLETED",
        "CHECKOUT.ORDER.APPROVED",
        "PAYMENT.CAPTURE.PENDING",
        "PAYMENT.CAPTURE.DENIED",
      ]);
    });

    it("refuses a second transaction with the same invoice_id (DUPLICATE_INVOICE_ID)", async () => {
      const invoice = `inv_${crypto.randomUUID()}`;
      const body = () => {
        const b = orderBody();
        b.purchase_units[0]!.invoice_id = invoice;
        return b;
      };
      const first = (await api("POST", "/v2/checkout/orders", body())).body.id as string;
      const second = (await api("POST", "/v2/checkout/orders", body())).body.id as string;
      sim.approve(first);
      sim.approve(second);
      assert.equal((await capture(first)).status, 201);
      const dup = await capture(second);
      assert.equal(dup.status, 422);
      assert.equal(dup.body.details[0].issue, "DUPLICATE_INVOICE_ID");
      const third = await api("POST", "/v2/checkout/orders", body());
      assert.equal(third.body.details[0].issue, "DUPLICATE_INVOICE_ID");
    });
  });

  describe("refunds", () => {
    it("refunds part, replays by PayPal-Request-Id, refuses too much, then refunds the rest", async () => {
      const { captureId } = await paidCapture();
      const requestId = crypto.randomUUID();
      const partial = await api(
        "POST",
        `/v2/payments/captures/${captureId}/refund`,
        { amount: { currency_code: "USD", value: "5.00" }, custom_id: "pay_1" },
        { "paypal-request-id": requestId },
      );
      assert.equal(partial.status, 201);
      assert.equal(partial.body.status, "COMPLETED");
      assert.ok((partial.body.links as Json[]).some((l) => l.rel === "self"));
      const replay = await api(
        "POST",
        `/v2/payments/captures/${captureId}/refund`,
        { amount: { currency_code: "USD", value: "5.00" } },
        { "paypal-request-id": requestId },
      );
      assert.equal(replay.status, 200);
      assert.equal(replay.body.id, partial.body.id);
      assert.equal((await api("GET", `/v2/payments/captures/${captureId}`)).body.status, "PARTIALLY_REFUNDED");

      const refusals: Array<[unknown, string]> = [
        [{ currency_code: "USD", value: "15.00" }, "REFUND_AMOUNT_EXCEEDED"],
        [{ currency_code: "USD", value: "1.001" }, "DECIMAL_PRECISION"],
        [{ currency_code: "EUR", value: "1.00" }, "REFUND_CAPTURE_CURRENCY_MISMATCH"],
      ];
      for (const [amount, issue] of refusals) {
        const answer = await api("POST", `/v2/payments/captures/${captureId}/refund`, { amount });
        assert.equal(answer.status, 422);
        assert.equal(answer.body.details[0].issue, issue);
      }

      const rest = await api("POST", `/v2/payments/captures/${captureId}/refund`, {}, { prefer: "return=representation" });
      assert.equal(rest.status, 201);
      assert.deepEqual(rest.body.amount, { currency_code: "USD", value: "14.99" });
      assert.equal((await api("GET", `/v2/payments/captures/${captureId}`)).body.status, "REFUNDED");
      assert.equal((await api("POST", `/v2/payments/captures/${captureId}/refund`, {})).body.details[0].issue, "CAPTURE_FULLY_REFUNDED");

      const read = await api("GET", `/v2/payments/refunds/${partial.body.id}`);
      assert.equal(read.body.status, "COMPLETED");
      assert.equal(read.body.custom_id, "pay_1");
      assert.ok((read.body.links as Json[]).some((l) => l.rel === "up" && String(l.href).endsWith(`/v2/payments/captures/${captureId}`)));
      const refunded = (await webhooks()).filter((e) => e.type === "PAYMENT.CAPTURE.REFUNDED");
      assert.deepEqual(
        refunded.map((e) => e.event.resource.id),
        [partial.body.id, rest.body.id],
      );
    });

    it("refunds zero-decimal currencies in whole units only", async () => {
      const { captureId } = await paidCapture({ currency_code: "JPY", value: "1500" });
      assert.equal(
        (await api("POST", `/v2/payments/captures/${captureId}/refund`, { amount: { currency_code: "JPY", value: "100.5" } })).body.details[0].issue,
        "DECIMALS_NOT_SUPPORTED",
      );
      const ok = await api(
        "POST",
        `/v2/payments/captures/${captureId}/refund`,
        { amount: { currency_code: "JPY", value: "500" } },
        { prefer: "return=representation" },
      );
      assert.deepEqual(ok.body.amount, { currency_code: "JPY", value: "500" });
    });

    it("settles a PENDING refund later: a failed one frees the amount, a completed one sends its webhook", async () => {
      const { captureId } = await paidCapture({ currency_code: "USD", value: "10.00" });
      sim.planRefund("pend");
      const pending = await api("POST", `/v2/payments/captures/${captureId}/refund`, { amount: { currency_code: "USD", value: "10.00" } });
      assert.equal(pending.body.status, "PENDING");
      assert.equal(
        (await api("POST", `/v2/payments/captures/${captureId}/refund`, { amount: { currency_code: "USD", value: "0.01" } })).body.details[0].issue,
        "CAPTURE_FULLY_REFUNDED",
        "a pending refund holds its amount",
      );
      sim.failRefund(pending.body.id as string);
      assert.equal((await api("GET", `/v2/payments/refunds/${pending.body.id}`)).body.status, "FAILED");
      assert.equal((await api("GET", `/v2/payments/captures/${captureId}`)).body.status, "COMPLETED");

      sim.planRefund("pend");
      const second = await api("POST", `/v2/payments/captures/${captureId}/refund`, { amount: { currency_code: "USD", value: "4.00" } });
      assert.equal(second.status, 201, "the failed refund's amount can be refunded again");
      assert.equal((await webhooks()).filter((e) => e.type === "PAYMENT.CAPTURE.REFUNDED").length, 0);
      sim.completeRefund(second.body.id as string);
      assert.equal((await api("GET", `/v2/payments/captures/${captureId}`)).body.status, "PARTIALLY_REFUNDED");
      assert.deepEqual(
        (await webhooks()).filter((e) => e.type === "PAYMENT.CAPTURE.REFUNDED").map((e) => e.event.resource.id),
        [second.body.id],
      );
    });

    it("reverses a capture by dispute: PAYMENT.CAPTURE.REVERSED, the capture refunded, no merchant refund after it", async () => {
      const { captureId } = await paidCapture();
      const reversal = sim.reverseCapture(captureId);
      assert.equal((await api("GET", `/v2/payments/captures/${captureId}`)).body.status, "REFUNDED");
      const refused = await api("POST", `/v2/payments/captures/${captureId}/refund`, {});
      assert.equal(refused.status, 422);
      const reversed = (await webhooks()).find((e) => e.type === "PAYMENT.CAPTURE.REVERSED");
      assert.ok(reversed);
      assert.equal(reversed.event.resource.id, reversal.id);
      assert.ok((reversed.event.resource.links as Json[]).some((l) => l.rel === "up" && String(l.href).endsWith(captureId)));
      assert.equal(await verifiesByCertificate(reversed.raw, sim.webhookId), true);
    });
  });

  describe("webhooks", () => {
    it("sends PayPal's envelope with the transmission headers, verifiable against the certificate at PAYPAL-CERT-URL", async () => {
      await paidCapture();
      const events = await webhooks();
      assert.equal(events.length, 2);
      for (const { event, raw } of events) {
        assert.match(event.id, /^WH-/);
        assert.equal(event.event_version, "1.0");
        assert.equal(event.resource_version, "2.0");
        assert.ok(event.create_time && event.summary && event.links);
        assert.match(String(raw.headers["paypal-transmission-id"]), /^[0-9a-f-]{36}$/);
        assert.ok(!Number.isNaN(Date.parse(String(raw.headers["paypal-transmission-time"]))));
        assert.equal(raw.headers["paypal-cert-url"], sim.certUrl);
        assert.equal(await verifiesByCertificate(raw, sim.webhookId), true);
        assert.equal(await verifiesByCertificate(raw, "OTHERWEBHOOKID00"), false, "the signature binds the webhook id");
        assert.equal(await verifiesByCertificate({ ...raw, body: raw.body.replace("19.99", "19.98") }, sim.webhookId), false, "and the body");
      }
    });

    it("sends webhooks that PGB's certificate check accepts, with the certificate fetched from an allowed PAYPAL-CERT-URL", async () => {
      await paidCapture();
      const events = await webhooks();
      assert.equal(events.length, 2);
      for (const { raw } of events) {
        const read = readTransmissionHeaders(raw.headers);
        assert.ok(read.ok);
        assert.equal(isAllowedCertUrl(read.value["paypal-cert-url"]), false, "the simulator is not PayPal");
        assert.equal(isAllowedCertUrl(read.value["paypal-cert-url"], [sim.url]), true);
        const certificatePem = await (await fetch(read.value["paypal-cert-url"])).text();
        assert.deepEqual(
          verifyPayPalTransmission({ headers: read.value, rawBody: Buffer.from(raw.body), webhookId: sim.webhookId, certificatePem, now: new Date() }),
          { ok: true },
        );
        assert.equal(
          verifyPayPalTransmission({ headers: read.value, rawBody: Buffer.from(raw.body), webhookId: "OTHERWEBHOOKID00", certificatePem, now: new Date() }).ok,
          false,
        );
      }
    });

    it("answers verify-webhook-signature SUCCESS for a genuine event and FAILURE for another webhook id or an altered event", async () => {
      await paidCapture();
      const [first] = await webhooks();
      assert.ok(first);
      assert.deepEqual((await verifyCall(first.raw)).body, { verification_status: "SUCCESS" });
      assert.deepEqual((await verifyCall(first.raw, { webhook_id: "OTHERWEBHOOKID00" })).body, { verification_status: "FAILURE" });
      const altered = { ...first.event, resource: { ...first.event.resource, id: "SOMEOTHERORDER00" } };
      assert.deepEqual((await verifyCall(first.raw, { webhook_event: altered })).body, { verification_status: "FAILURE" });
      assert.deepEqual((await verifyCall(first.raw, { cert_url: "https://example.com/cert.pem" })).body, { verification_status: "FAILURE" });
      const missing = await api("POST", "/v1/notifications/verify-webhook-signature", { webhook_id: sim.webhookId });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.details[0].issue, "MISSING_REQUIRED_PARAMETER");
    });

    it("drops, duplicates and resends deliveries on request", async () => {
      const orderId = await createOrder();
      sim.planWebhook("drop");
      sim.approve(orderId);
      assert.equal((await webhooks()).length, 0);
      sim.planWebhook("duplicate");
      await capture(orderId);
      const twice = await webhooks();
      assert.equal(twice.length, 2);
      assert.equal(twice[0]!.event.id, twice[1]!.event.id);

      received = [];
      const approvedEvent = sim.events.find((e) => e.event_type === "CHECKOUT.ORDER.APPROVED" && e.resource.id === orderId)!;
      sim.resend(approvedEvent.id);
      const resent = await webhooks();
      assert.equal(resent.length, 1);
      assert.equal(resent[0]!.event.id, approvedEvent.id);
      assert.equal(await verifiesByCertificate(resent[0]!.raw, sim.webhookId), true);
      assert.ok(sim.deliveries.some((d) => d.eventId === approvedEvent.id && d.outcome === "dropped"));
      assert.ok(sim.deliveries.some((d) => d.eventId === approvedEvent.id && d.outcome === 200));
    });
  });

  describe("faults", () => {
    it("answers 500, 503 and 429 in PayPal's shape without doing anything; a retry then succeeds", async () => {
      const orderId = await createOrder();
      sim.approve(orderId);
      const requestId = crypto.randomUUID();
      for (const [status, name] of [
        [500, "INTERNAL_SERVER_ERROR"],
        [503, "SERVICE_UNAVAILABLE"],
        [429, "RATE_LIMIT_REACHED"],
      ] as const) {
        sim.failNext(status, "POST /v2/checkout/orders/");
        const failed = await capture(orderId, requestId);
        assert.equal(failed.status, status);
        assert.equal(failed.body.name, name);
        assert.ok(failed.body.debug_id);
        assert.equal(
          [...sim.captures.values()].some((c) => c.orderId === orderId),
          false,
        );
      }
      const ok = await capture(orderId, requestId);
      assert.equal(ok.status, 201);
    });

    it("sends a Retry-After with a 429 and applies a fault only to the calls it names", async () => {
      sim.failNext(429, "POST /v2/payments/");
      assert.equal((await api("GET", "/v2/checkout/orders/NOSUCHORDER00000")).status, 404, "other calls are unaffected");
      const { captureId } = await paidCapture();
      const throttled = await api("POST", `/v2/payments/captures/${captureId}/refund`, {});
      assert.equal(throttled.status, 429);
      assert.equal(throttled.headers.get("retry-after"), "1");
    });

    it("times out after making the capture: the caller gets no answer, the capture exists, and a retry with the same id returns it", async () => {
      const orderId = await createOrder();
      sim.approve(orderId);
      const requestId = crypto.randomUUID();
      sim.timeOutNext(`POST /v2/checkout/orders/${orderId}/capture`);
      await assert.rejects(capture(orderId, requestId));
      const made = [...sim.captures.values()].filter((c) => c.orderId === orderId);
      assert.equal(made.length, 1);
      assert.equal(made[0]!.status, "COMPLETED");
      const retry = await capture(orderId, requestId);
      assert.equal(retry.status, 200);
      assert.equal(retry.body.purchase_units[0].payments.captures[0].id, made[0]!.id);
      assert.ok(sim.requests.some((r) => r.requestId === requestId && r.status === "no answer"));
    });
  });
});
