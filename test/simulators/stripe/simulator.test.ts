/**
 * The Stripe simulator checked against what Stripe does and what the official SDK expects: wire
 * encoding, auth, error shapes, idempotency, the hosted page and webhook signatures.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { canonicalForm, FormError, parseForm } from "./form.ts";
import { StripeSimulator, stripeSignature } from "./simulator.ts";

describe("Stripe form encoding parser", () => {
  it("nests bracket keys into objects and indexed keys into arrays", () => {
    const parsed = parseForm(
      "mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=krw&line_items[0][price_data][unit_amount]=10000&line_items[0][price_data][product_data][name]=A+book&metadata[order_id]=7",
    );
    assert.deepEqual(parsed, {
      mode: "payment",
      line_items: [{ quantity: "1", price_data: { currency: "krw", unit_amount: "10000", product_data: { name: "A book" } } }],
      metadata: { order_id: "7" },
    });
  });

  it("reads percent-encoded brackets and empty-bracket appends as Stripe does", () => {
    assert.deepEqual(parseForm("expand%5B%5D=payment_intent&expand[]=latest_charge"), { expand: ["payment_intent", "latest_charge"] });
    assert.deepEqual(parseForm("success_url=https%3A%2F%2Fa.example%2Fr%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D"), {
      success_url: "https://a.example/r?session_id={CHECKOUT_SESSION_ID}",
    });
  });

  it("orders indexed array items by index, not by arrival", () => {
    assert.deepEqual(parseForm("a[1]=second&a[0]=first"), { a: ["first", "second"] });
  });

  it("refuses a key that is both a value and a hash, and prototype keys", () => {
    assert.throws(() => parseForm("metadata=x&metadata[a]=b"), FormError);
    assert.throws(() => parseForm("__proto__[x]=1"), FormError);
    assert.throws(() => parseForm("a[b=1"), FormError);
  });

  it("compares parameters independently of their order", () => {
    assert.equal(canonicalForm(parseForm("a=1&b[c]=2")), canonicalForm(parseForm("b[c]=2&a=1")));
  });
});

describe("Stripe simulator", () => {
  let sim: StripeSimulator;
  let stripe: Stripe;
  const webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;

  before(async () => {
    sim = await StripeSimulator.start();
    stripe = new Stripe(sim.secretKey, { ...sim.sdkConfig, maxNetworkRetries: 0 });
  });

  after(() => sim.close());

  const sessionParams = (unitAmount = 10000, currency = "krw"): Stripe.Checkout.SessionCreateParams => ({
    mode: "payment",
    line_items: [{ quantity: 1, price_data: { currency, unit_amount: unitAmount, product_data: { name: "A book" } } }],
    success_url: "http://127.0.0.1:9/return?session_id={CHECKOUT_SESSION_ID}",
    cancel_url: "http://127.0.0.1:9/return?cancelled=1",
    metadata: { pgb_payment_id: "pay_1" },
  });

  function rawPost(path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${sim.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${sim.secretKey}`, "content-type": "application/x-www-form-urlencoded", ...headers },
      body,
    });
  }

  const createBody =
    "mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1999&line_items[0][price_data][product_data][name]=Book&success_url=http%3A%2F%2F127.0.0.1%3A9%2Fr";

  describe("API", () => {
    it("creates a session the SDK reads as a typed Checkout Session", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      assert.equal(session.object, "checkout.session");
      assert.match(session.id, /^cs_test_/);
      assert.equal(session.status, "open");
      assert.equal(session.payment_status, "unpaid");
      assert.equal(session.payment_intent, null);
      assert.equal(session.amount_total, 10000);
      assert.equal(session.currency, "krw");
      assert.equal(session.url, `${sim.url}/pay/${session.id}`);
      assert.ok(session.expires_at > session.created);
    });

    it("expands the PaymentIntent and its charge on request", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      sim.pay(session.id);
      const expanded = await stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent.latest_charge"] });
      assert.ok(expanded.payment_intent !== null && typeof expanded.payment_intent === "object");
      assert.equal(expanded.payment_intent.status, "succeeded");
      const charge = expanded.payment_intent.latest_charge;
      assert.ok(charge !== null && typeof charge === "object");
      assert.equal(charge.amount, 10000);
      const plain = await fetch(`${sim.url}/v1/checkout/sessions/${session.id}?expand[]=payment_intent`, {
        headers: { authorization: `Bearer ${sim.secretKey}` },
      });
      const body = (await plain.json()) as { payment_intent: { object: string; latest_charge: unknown } };
      assert.equal(body.payment_intent.object, "payment_intent");
      assert.equal(typeof body.payment_intent.latest_charge, "string");
    });

    it("answers 401 in Stripe's error shape for a missing or wrong key and accepts Basic auth with the key as username", async () => {
      const missing = await fetch(`${sim.url}/v1/refunds/re_x`);
      assert.equal(missing.status, 401);
      assert.equal(((await missing.json()) as { error: { type: string } }).error.type, "invalid_request_error");
      await assert.rejects(
        new Stripe("sk_test_wrongwrongwrong", { ...sim.sdkConfig, maxNetworkRetries: 0 }).refunds.retrieve("re_x"),
        (error: unknown) => error instanceof Stripe.errors.StripeAuthenticationError,
      );
      const basic = await fetch(`${sim.url}/v1/refunds/re_x`, { headers: { authorization: `Basic ${Buffer.from(`${sim.secretKey}:`).toString("base64")}` } });
      assert.equal(basic.status, 404);
    });

    it("answers 404 resource_missing with the param for an unknown object, and for an unknown URL", async () => {
      await assert.rejects(stripe.checkout.sessions.retrieve("cs_test_nope"), (error: unknown) => {
        assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
        assert.equal(error.statusCode, 404);
        assert.equal(error.code, "resource_missing");
        assert.equal(error.param, "session");
        return true;
      });
      const unknown = await fetch(`${sim.url}/v1/customers`, { headers: { authorization: `Bearer ${sim.secretKey}` } });
      assert.equal(unknown.status, 404);
      assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /Unrecognized request URL/);
    });

    it("refuses unknown parameters, missing required ones and amounts below Stripe's minimum", async () => {
      const unknown = await rawPost("/v1/checkout/sessions", `${createBody}&line_items[0][price_data][unit_amount_decimal]=1`);
      assert.equal(unknown.status, 400);
      assert.equal(((await unknown.json()) as { error: { param: string } }).error.param, "line_items[0][price_data][unit_amount_decimal]");
      await assert.rejects(
        stripe.checkout.sessions.create({ ...sessionParams(), mode: undefined as unknown as "payment" }),
        (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "parameter_missing" && error.param === "mode",
      );
      await assert.rejects(
        stripe.checkout.sessions.create(sessionParams(49, "usd")),
        (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "amount_too_small",
      );
    });

    it("refuses an expires_at outside Stripe's 30 minute to 24 hour window", async () => {
      const now = sim.now();
      await assert.rejects(
        stripe.checkout.sessions.create({ ...sessionParams(), expires_at: now + 10 * 60 }),
        (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.param === "expires_at",
      );
      await assert.rejects(
        stripe.checkout.sessions.create({ ...sessionParams(), expires_at: now + 25 * 3600 }),
        (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.param === "expires_at",
      );
    });

    it("answers injected 402, 429 and 500 errors as the SDK's card, rate-limit and API errors", async () => {
      sim.failNext(1, 402);
      await assert.rejects(
        stripe.refunds.retrieve("re_x"),
        (error: unknown) => error instanceof Stripe.errors.StripeCardError && error.code === "card_declined",
      );
      sim.failNext(1, 429);
      await assert.rejects(stripe.refunds.retrieve("re_x"), (error: unknown) => error instanceof Stripe.errors.StripeRateLimitError);
      sim.failNext(1, 500);
      await assert.rejects(stripe.refunds.retrieve("re_x"), (error: unknown) => error instanceof Stripe.errors.StripeAPIError && error.statusCode === 500);
    });

    it("refuses to expire a session that is not open, in Stripe's words", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      const expired = await stripe.checkout.sessions.expire(session.id);
      assert.equal(expired.status, "expired");
      assert.equal(expired.url, null);
      await assert.rejects(
        stripe.checkout.sessions.expire(session.id),
        (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && /status of "expired"/.test(error.message),
      );
    });

    it("expires an open session when its clock passes expires_at", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      sim.advanceClock(24 * 3600 + 1);
      try {
        assert.equal((await stripe.checkout.sessions.retrieve(session.id)).status, "expired");
        assert.ok(sim.eventsOfType("checkout.session.expired").some((event) => event.data.object.id === session.id));
      } finally {
        sim.advanceClock(-(24 * 3600 + 1));
      }
    });

    it("refunds through the SDK up to the captured amount, then refuses", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      sim.pay(session.id);
      const intentId = sim.sessions.get(session.id)!.payment_intent!;
      const refund = await stripe.refunds.create({ payment_intent: intentId, amount: 4000 });
      assert.equal(refund.status, "succeeded");
      assert.equal(refund.amount, 4000);
      assert.equal((await stripe.refunds.retrieve(refund.id)).id, refund.id);
      const rest = await stripe.refunds.create({ payment_intent: intentId });
      assert.equal(rest.amount, 6000);
      await assert.rejects(
        stripe.refunds.create({ payment_intent: intentId, amount: 1 }),
        (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "charge_already_refunded",
      );
    });
  });

  it("lists an intent's refunds newest first, in pages the SDK's auto-pagination follows", async () => {
    const session = await stripe.checkout.sessions.create(sessionParams());
    sim.pay(session.id);
    const intentId = sim.sessions.get(session.id)!.payment_intent!;
    const made: string[] = [];
    for (let i = 0; i < 12; i++) made.push((await stripe.refunds.create({ payment_intent: intentId, amount: 10 })).id);
    const firstPage = await stripe.refunds.list({ payment_intent: intentId, limit: 5 });
    assert.equal(firstPage.object, "list");
    assert.equal(firstPage.has_more, true);
    assert.deepEqual(
      firstPage.data.map((refund) => refund.id),
      made.slice(-5).reverse(),
    );
    const all = await stripe.refunds.list({ payment_intent: intentId, limit: 5 }).autoPagingToArray({ limit: 100 });
    assert.deepEqual(
      all.map((refund) => refund.id),
      [...made].reverse(),
    );
  });

  describe("idempotency", () => {
    it("replays the first answer, status and body, for the same key and parameters", async () => {
      const first = await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-same" });
      const again = await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-same" });
      assert.equal(first.status, 200);
      assert.equal(again.status, 200);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.deepEqual(await again.json(), await first.json());
    });

    it("answers 400 idempotency_error when a key is reused with other parameters", async () => {
      await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-other" });
      const other = await rawPost("/v1/checkout/sessions", createBody.replace("1999", "2999"), { "idempotency-key": "idem-other" });
      assert.equal(other.status, 400);
      assert.equal(((await other.json()) as { error: { type: string } }).error.type, "idempotency_error");
      await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-sdk" });
      await assert.rejects(
        stripe.checkout.sessions.create(sessionParams(), { idempotencyKey: "idem-sdk" }),
        (error: unknown) => error instanceof Stripe.errors.StripeIdempotencyError,
      );
    });

    it("replays a 500 the endpoint recorded, status included, without doing the work", async () => {
      const before = sim.sessions.size;
      sim.failNext(1, 500, { recorded: true });
      const first = await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-500" });
      const again = await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-500" });
      assert.equal(first.status, 500);
      assert.equal(again.status, 500);
      assert.equal(again.headers.get("stripe-should-retry"), "false");
      assert.deepEqual(await again.json(), await first.json());
      assert.equal(sim.sessions.size, before);
    });

    it("does not record an overload answered before execution, so a retry with the key does the work", async () => {
      sim.failNext(1, 503);
      const first = await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-503" });
      const retry = await rawPost("/v1/checkout/sessions", createBody, { "idempotency-key": "idem-503" });
      assert.equal(first.status, 503);
      assert.equal(retry.status, 200);
    });

    it("does not record a validation error, as Stripe does not", async () => {
      const invalid = await rawPost("/v1/checkout/sessions", "mode=payment", { "idempotency-key": "idem-invalid" });
      assert.equal(invalid.status, 400);
      const fixed = await rawPost("/v1/checkout/sessions", "mode=payment", { "idempotency-key": "idem-invalid" });
      assert.notEqual(fixed.headers.get("idempotent-replayed"), "true");
    });
  });

  describe("hosted checkout page", () => {
    it("shows Pay, Pay-delayed and Cancel forms that work without JavaScript", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      const page = await fetch(session.url!);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<form method="post"/);
      for (const action of ["pay", "pay_delayed", "cancel"]) assert.ok(html.includes(`value="${action}"`), action);
      assert.match(html, /10000 KRW/);
    });

    it("redirects a paying browser to the success URL with the session id substituted", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      const paid = await fetch(session.url!, { method: "POST", body: new URLSearchParams({ action: "pay" }), redirect: "manual" });
      assert.equal(paid.status, 303);
      assert.equal(paid.headers.get("location"), `http://127.0.0.1:9/return?session_id=${session.id}`);
      assert.equal(sim.sessions.get(session.id)?.payment_status, "paid");
      assert.equal((await fetch(session.url!)).status, 410);
    });

    it("leaves the session complete but unpaid after a delayed payment, and open after a cancel", async () => {
      const delayed = await stripe.checkout.sessions.create(sessionParams());
      await fetch(delayed.url!, { method: "POST", body: new URLSearchParams({ action: "pay_delayed" }), redirect: "manual" });
      assert.equal(sim.sessions.get(delayed.id)?.status, "complete");
      assert.equal(sim.sessions.get(delayed.id)?.payment_status, "unpaid");
      const cancelled = await stripe.checkout.sessions.create(sessionParams());
      const answer = await fetch(cancelled.url!, { method: "POST", body: new URLSearchParams({ action: "cancel" }), redirect: "manual" });
      assert.equal(answer.headers.get("location"), "http://127.0.0.1:9/return?cancelled=1");
      assert.equal(sim.sessions.get(cancelled.id)?.status, "open");
    });
  });

  describe("webhook signatures", () => {
    it("signs exactly as Stripe does: the SDK's test header for the same time and secret is identical", () => {
      const payload = JSON.stringify({ id: "evt_1", object: "event" });
      const timestamp = Math.floor(Date.now() / 1000);
      assert.equal(stripeSignature(payload, webhookSecret, timestamp), Stripe.webhooks.generateTestHeaderString({ payload, secret: webhookSecret, timestamp }));
    });

    it("produces deliveries the SDK's constructEvent verifies and parses back into the event", async () => {
      sim.setWebhookEndpoint("http://127.0.0.1:9/unused", webhookSecret);
      const session = await stripe.checkout.sessions.create(sessionParams());
      sim.dropNextWebhook();
      sim.expire(session.id);
      const event = sim.eventsOfType("checkout.session.expired").at(-1)!;
      const { headers, rawBody } = sim.signedDelivery(event.id);
      const parsed = Stripe.webhooks.constructEvent(rawBody, headers["stripe-signature"]!, webhookSecret);
      assert.equal(parsed.id, event.id);
      assert.equal(parsed.type, "checkout.session.expired");
      assert.equal((parsed.data.object as Stripe.Checkout.Session).status, "expired");
      assert.equal(sim.deliveries.at(-1)?.outcome, "dropped");
    });

    it("POSTs events to the endpoint with Stripe's headers, and drops, duplicates or delays the next one on request", async () => {
      const arrivals: Array<{ at: number; id: string; headers: http.IncomingHttpHeaders }> = [];
      const receiver = http.createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on("data", (chunk: Buffer) => chunks.push(chunk));
        request.on("end", () => {
          arrivals.push({ at: Date.now(), id: (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: string }).id, headers: request.headers });
          response.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      try {
        sim.setWebhookEndpoint(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, webhookSecret, ["checkout.session.expired"]);
        const sessions = await Promise.all([1, 2, 3, 4].map(() => stripe.checkout.sessions.create(sessionParams())));
        const eventOf = (sessionId: string) => sim.eventsOfType("checkout.session.expired").find((event) => event.data.object.id === sessionId)!.id;
        sim.dropNextWebhook();
        sim.expire(sessions[0]!.id);
        sim.duplicateNextWebhook();
        sim.expire(sessions[1]!.id);
        const delayedFrom = Date.now();
        sim.delayNextWebhook(300);
        sim.expire(sessions[2]!.id);
        sim.expire(sessions[3]!.id);
        await sim.waitForWebhooks();
        assert.equal(arrivals.filter((arrival) => arrival.id === eventOf(sessions[0]!.id)).length, 0, "dropped");
        assert.equal(arrivals.filter((arrival) => arrival.id === eventOf(sessions[1]!.id)).length, 2, "duplicated");
        const delayed = arrivals.find((arrival) => arrival.id === eventOf(sessions[2]!.id))!;
        const prompt = arrivals.find((arrival) => arrival.id === eventOf(sessions[3]!.id))!;
        assert.ok(delayed.at - delayedFrom >= 290, "delayed by about 300 ms");
        assert.ok(prompt.at < delayed.at, "a later event is not held up by a delayed one");
        assert.match(String(prompt.headers["stripe-signature"]), /^t=\d+,v1=[0-9a-f]{64}$/);
        assert.equal(prompt.headers["content-type"], "application/json; charset=utf-8");
        assert.match(String(prompt.headers["user-agent"]), /^Stripe\/1\.0/);
        assert.deepEqual(
          sim.deliveries.filter((delivery) => delivery.eventId === eventOf(sessions[1]!.id)).map((delivery) => delivery.outcome),
          [204, 204],
        );
      } finally {
        sim.setWebhookEndpoint("http://127.0.0.1:9/unused", webhookSecret);
        await new Promise<void>((resolve) => receiver.close(() => resolve()));
      }
    });

    it("keeps each event's object as it was when the event happened", async () => {
      const session = await stripe.checkout.sessions.create(sessionParams());
      sim.pay(session.id, { delayed: true });
      sim.completeDelayed(session.id, true);
      const completed = sim.eventsOfType("checkout.session.completed").find((event) => event.data.object.id === session.id)!;
      const succeeded = sim.eventsOfType("checkout.session.async_payment_succeeded").find((event) => event.data.object.id === session.id)!;
      assert.equal((completed.data.object as Stripe.Checkout.Session).payment_status, "unpaid");
      assert.equal((succeeded.data.object as Stripe.Checkout.Session).payment_status, "paid");
    });
  });
});
