/**
 * One driver per registered connector: its simulator, its customer and its faults, for the battery.
 * A new connector adds its driver here (docs/architecture.md, "Adding a PG").
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import { pino } from "pino";
import { Webhook } from "standardwebhooks";
import type { Connector, WebhookInput } from "../../../src/core/ports/connector.ts";
import type { ConnectorDeps } from "../../../src/connectors/factory.ts";
import { systemClock } from "../../../src/core/system-clock.ts";
import { StripeSettingsSchema, createStripeConnector } from "../../../src/connectors/stripe/index.ts";
import { STRIPE_CAPABILITIES } from "../../../src/connectors/stripe/capabilities.ts";
import { testConnector, testPgFor } from "../../../src/connectors/test-pg/index.ts";
import { TEST_PG_CAPABILITIES } from "../../../src/connectors/test-pg/capabilities.ts";
import { tossConnector } from "../../../src/connectors/toss/index.ts";
import { paypalConnector } from "../../../src/connectors/paypal/index.ts";
import { PAYPAL_CAPABILITIES } from "../../../src/connectors/paypal/capabilities.ts";
import { PayPalSimulator } from "../../simulators/paypal/simulator.ts";
import { kakaoPayConnector } from "../../../src/connectors/kakaopay/index.ts";
import { KAKAOPAY_CAPABILITIES } from "../../../src/connectors/kakaopay/capabilities.ts";
import { TOSS_CAPABILITIES } from "../../../src/connectors/toss/capabilities.ts";
import type { DatabaseHandle } from "../../../src/storage/database.ts";
import { connectorStorageOf } from "../../../src/storage/connector-storage.ts";
import { StripeSimulator } from "../../simulators/stripe/simulator.ts";
import { TossSimulator } from "../../simulators/toss/simulator.ts";
import { KakaoPaySimulator } from "../../simulators/kakaopay/simulator.ts";
import { freePort } from "../../support/scratch.ts";
import { testPgLedger } from "../../support/test-pg-ledger.ts";
import type { ConformanceDriver, Declared } from "./battery.ts";

const silent = pino({ level: "silent" });

const IN_PROCESS = "the TEST PG runs inside PGB: there is no network between them to lose, slow down or throttle";

export const DECLARED = {
  TEST: {
    pg: "TEST",
    capabilities: TEST_PG_CAPABILITIES,
    notApplicable: {
      "refund retried after a time-out refunds once": IN_PROCESS,
      "PG throttling retried": IN_PROCESS,
      "PG down: retryable, nothing changed": IN_PROCESS,
    },
  },
  STRIPE: { pg: "STRIPE", capabilities: STRIPE_CAPABILITIES, notApplicable: {} },
  TOSS: { pg: "TOSS", capabilities: TOSS_CAPABILITIES, notApplicable: {} },
  PAYPAL: {
    pg: "PAYPAL",
    capabilities: PAYPAL_CAPABILITIES,
    notApplicable: {
      "refund that fails after success":
        "PayPal documents no refund failing after COMPLETED (a refund fails only from PENDING, which PGB waits on); its order lists refunds, so dispute reversals and dashboard refunds are still found",
    },
  },
  KAKAOPAY: {
    pg: "KAKAOPAY",
    capabilities: KAKAOPAY_CAPABILITIES,
    notApplicable: { "refund that fails after success": "KakaoPay cancels synchronously: a cancel in its history has happened and does not fail afterwards" },
  },
} as const satisfies Record<string, Declared>;
/** An address nobody listens on (a port just freed: fetch refuses some well-known ports outright). */
async function unreachable(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

/** PGB's webhook intake as a PG sees it: keeps each delivery's headers and exact bytes. */
export class WebhookReceiver {
  readonly received: WebhookInput[] = [];
  #server!: http.Server;
  url = "";

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    receiver.#server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        receiver.received.push({ headers: request.headers, rawBody: Buffer.concat(chunks) });
        response.writeHead(200, { "content-type": "application/json" }).end('{"received":true}');
      });
    });
    await new Promise<void>((resolve) => receiver.#server.listen(0, "127.0.0.1", resolve));
    receiver.url = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}`;
    return receiver;
  }

  /** The first delivery whose body contains `needle`, waiting for it a while. */
  async waitFor(needle: string): Promise<WebhookInput> {
    for (let i = 0; i < 100; i++) {
      const found = this.received.find((delivery) => delivery.rawBody.toString("utf8").includes(needle));
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no webhook mentioning ${needle}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function altered(webhook: WebhookInput): WebhookInput {
  const text = webhook.rawBody.toString("utf8");
  const index = text.lastIndexOf("}");
  return { headers: webhook.headers, rawBody: Buffer.from(`${text.slice(0, index)},"x":1${text.slice(index)}`, "utf8") };
}

async function count(db: DatabaseHandle, query: ReturnType<typeof sql<{ n: string }>>): Promise<number> {
  return Number((await query.execute(db.db)).rows[0]?.n ?? 0);
}

export async function testPgDriver(db: DatabaseHandle, receiver: WebhookReceiver): Promise<ConformanceDriver & { close(): Promise<void> }> {
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const deps: ConnectorDeps = { storage: connectorStorageOf(db.db), logger: silent, publicUrl: receiver.url, clock: systemClock };
  const settings = testConnector.settingsSchema.parse({ webhookSecret: secret });
  const make = (): Connector => testConnector.create(settings, { tenant: "SHOP", deps });
  make();
  const fake = testPgFor(db.db)!;
  const ledger = testPgLedger(db.db);
  return {
    ...DECLARED.TEST,
    amount: { minor: 1999n, currency: "USD" },
    unitAmount: 1999,
    nationCode: "US",
    connector: make,
    unreachableConnector: make,
    amountAtPg: async (created) => Number((await fake.get("SHOP", created.pgTransactionId)).amountMinor),
    // The TEST PG writes nothing until the customer acts: its checkout is its signed id.
    checkoutsAtPg: async (_input, ids) => new Set(ids).size,
    async pay(_connector, _input, created) {
      await fake.act(created.pgTransactionId, "pay");
      return { pgTransactionId: created.pgTransactionId, paymentReference: _input.paymentId };
    },
    async customerCompletes(input, created, options = {}) {
      await fake.act(created.pgTransactionId, "pay");
      // The TEST PG's own books then say another amount or currency than PGB asked for.
      if (options.misreport === "amount") await ledger.misrecord(created.pgTransactionId, { addToAmount: 100n });
      if (options.misreport === "currency") await ledger.misrecord(created.pgTransactionId, { currency: input.amount.currency === "EUR" ? "USD" : "EUR" });
      return { query: {}, webhook: () => receiver.waitFor(created.pgTransactionId) };
    },
    genuineWebhook: (paid) => receiver.waitFor(paid.created.pgTransactionId),
    async forgedWebhooks(_paid, genuine) {
      const body = genuine.rawBody.toString("utf8");
      const id = String(genuine.headers["webhook-id"]);
      const sign = (key: string, at: Date): WebhookInput => ({
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
          "webhook-signature": new Webhook(key).sign(id, at, body),
        },
        rawBody: Buffer.from(body, "utf8"),
      });
      return [
        { what: "signed with another secret", webhook: sign(`whsec_${randomBytes(24).toString("base64")}`, new Date()) },
        { what: "replayed an hour later", webhook: sign(secret, new Date(Date.now() - 3_600_000)) },
        { what: "altered after signing", webhook: altered(genuine) },
      ];
    },
    refundsAtPg: async (paid) => (await ledger.refunds(paid.created.pgTransactionId)).length,
    failRefundAfterSuccess: (_paid, pgRefundId) => fake.failRefundAfterSuccess(pgRefundId),
    close: async () => undefined,
  };
}

export async function stripeDriver(receiver: WebhookReceiver): Promise<ConformanceDriver & { close(): Promise<void> }> {
  const sim = await StripeSimulator.start();
  const down = await unreachable();
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  sim.setWebhookEndpoint(`${receiver.url}/PGBReturn/stripe/webhook/SHOP`, secret);
  const make = (overrides: Record<string, unknown> = {}): Connector =>
    createStripeConnector(
      StripeSettingsSchema.parse({ secretKey: sim.secretKey, webhookSecret: secret, apiBase: sim.url, timeout: 3000, maxNetworkRetries: 2, ...overrides }),
      "SHOP",
      systemClock,
    );
  const intentOf = (sessionId: string): string | null => sim.sessions.get(sessionId)?.payment_intent ?? null;
  return {
    ...DECLARED.STRIPE,
    amount: { minor: 1999n, currency: "USD" },
    unitAmount: 1999,
    nationCode: "US",
    connector: (options) => (options?.impatient ? make({ maxNetworkRetries: 0, timeout: 500 }) : make()),
    unreachableConnector: () => make({ apiBase: down, maxNetworkRetries: 0 }),
    amountAtPg: async (created) => sim.sessions.get(created.pgTransactionId)?.amount_total ?? -1,
    checkoutsAtPg: async (input) => [...sim.sessions.values()].filter((session) => session.client_reference_id === input.paymentId).length,
    async pay(_connector, input, created) {
      sim.pay(created.pgTransactionId);
      return { pgTransactionId: created.pgTransactionId, paymentReference: input.paymentId };
    },
    async customerCompletes(input, created, options = {}) {
      const session = sim.sessions.get(created.pgTransactionId)!;
      // Stripe's session then charges another amount or currency than PGB created it with.
      if (options.misreport === "amount") session.amount_total = (session.amount_total ?? 0) + 100;
      if (options.misreport === "currency") session.currency = input.amount.currency === "EUR" ? "usd" : "eur";
      sim.pay(created.pgTransactionId);
      return {
        query: {},
        async webhook() {
          await sim.waitForWebhooks();
          const event = sim.eventsOfType("checkout.session.completed").find((e) => e.data.object.id === created.pgTransactionId)!;
          return receiver.waitFor(event.id);
        },
      };
    },
    async genuineWebhook(paid) {
      await sim.waitForWebhooks();
      const event = sim.eventsOfType("checkout.session.completed").find((e) => e.data.object.id === paid.created.pgTransactionId)!;
      return receiver.waitFor(event.id);
    },
    async forgedWebhooks(paid, genuine) {
      const event = sim.eventsOfType("checkout.session.completed").find((e) => e.data.object.id === paid.created.pgTransactionId)!;
      return [
        { what: "signed with another secret", webhook: sim.signedDelivery(event.id, { secret: `whsec_${randomBytes(24).toString("base64")}` }) },
        { what: "replayed an hour later", webhook: sim.signedDelivery(event.id, { timestamp: Math.floor(Date.now() / 1000) - 3600 }) },
        { what: "altered after signing", webhook: altered(genuine) },
      ];
    },
    refundsAtPg: async (paid) => [...sim.refunds.values()].filter((refund) => refund.payment_intent === intentOf(paid.created.pgTransactionId)).length,
    failRefundAfterSuccess: async (_paid, pgRefundId) => void sim.failSucceededRefund(pgRefundId),
    delayNextAnswer: (ms) => sim.delayNext(ms, 1, "POST /v1/refunds"),
    throttleNext: () => sim.failNext(1, 429, { on: "POST /v1/refunds" }),
    close: () => sim.close(),
  };
}

export async function tossDriver(db: DatabaseHandle, receiver: WebhookReceiver): Promise<ConformanceDriver & { close(): Promise<void> }> {
  const secretKey = "test_sk_conformanceSecretKey01";
  const clientKey = "test_ck_conformanceClientKey01";
  const sim = await TossSimulator.start({ secretKey, clientKey });
  const down = await unreachable();
  sim.configureWebhooks({ url: `${receiver.url}/PGBReturn/toss/webhook/SHOP` });
  const deps: ConnectorDeps = { storage: connectorStorageOf(db.db), logger: silent, publicUrl: "http://pgb.test", clock: systemClock };
  const make = (overrides: Record<string, unknown> = {}): Connector =>
    tossConnector.create(
      tossConnector.settingsSchema.parse({ secretKey, clientKey, apiBase: sim.url, sdkScriptUrl: sim.sdkScriptUrl, timeoutMs: 3_000, ...overrides }),
      { tenant: "SHOP", deps },
    );
  return {
    ...DECLARED.TOSS,
    amount: { minor: 15000n, currency: "KRW" },
    unitAmount: 15000,
    nationCode: "KR",
    connector: (options) => (options?.impatient ? make({ timeoutMs: 500 }) : make()),
    unreachableConnector: () => make({ apiBase: down }),
    // Toss has no server-side checkout: the page PGB serves asks Toss's SDK for the amount in its row.
    amountAtPg: async (_created, input) =>
      count(db, sql<{ n: string }>`SELECT amount::text AS n FROM toss_checkouts WHERE payment_reference = ${input.paymentId}`),
    checkoutsAtPg: (input) => count(db, sql<{ n: string }>`SELECT count(*)::text AS n FROM toss_checkouts WHERE payment_reference = ${input.paymentId}`),
    async pay(connector, input, created) {
      const paymentKey = sim.authorize(input.paymentId, Number(input.amount.minor), "CARD");
      const result = await connector.handleReturn({
        pgTransactionId: created.pgTransactionId,
        paymentReference: input.paymentId,
        amount: input.amount,
        query: { paymentType: "NORMAL", paymentKey, orderId: input.paymentId, amount: String(input.amount.minor) },
      });
      if (result.status !== "PAID") throw new Error(`Toss did not take the payment: ${result.status}`);
      return { pgTransactionId: result.pgTransactionId, paymentReference: input.paymentId, ...(result.details ? { details: result.details } : {}) };
    },
    async customerCompletes(input, _created, options = {}) {
      // Toss's window authorizes another amount than PGB's page asked for (a tampered page); Toss
      // sends its browser back with that amount. Toss takes money only on PGB's confirm, and sends its
      // webhook after it: none for a payment never confirmed.
      const amount = Number(input.amount.minor) + (options.misreport === "amount" ? 1000 : 0);
      const paymentKey = sim.authorize(input.paymentId, amount, "CARD");
      const query = { paymentType: "NORMAL", paymentKey, orderId: input.paymentId, amount: String(amount) };
      if (options.misreport !== undefined) return { query };
      return {
        query,
        async webhook() {
          await sim.flushWebhooks();
          return receiver.waitFor(input.paymentId);
        },
      };
    },
    async genuineWebhook(paid) {
      await sim.flushWebhooks();
      return receiver.waitFor(paid.input.paymentId);
    },
    refundsAtPg: async (paid) => sim.payment(paid.input.paymentId)?.cancels.length ?? -1,
    delayNextAnswer: (ms) => sim.delayNext(ms, { path: /\/cancel$/ }),
    throttleNext: () => sim.failNext(1, 429, "TOO_MANY_REQUESTS", { path: /\/cancel$/ }),
    close: () => sim.close(),
  };
}

export async function paypalDriver(db: DatabaseHandle, receiver: WebhookReceiver): Promise<ConformanceDriver & { close(): Promise<void> }> {
  const sim = await PayPalSimulator.start();
  const down = await unreachable();
  sim.configureWebhook(`${receiver.url}/PGBReturn/paypal/webhook/SHOP`);
  const deps: ConnectorDeps = { storage: connectorStorageOf(db.db), logger: silent, publicUrl: "http://pgb.test", clock: systemClock };
  const settings = {
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    webhookId: sim.webhookId,
    apiBase: sim.url,
    certOrigins: [sim.url],
    timeoutMs: 3_000,
  };
  const make = (overrides: Record<string, unknown> = {}): Connector =>
    paypalConnector.create(paypalConnector.settingsSchema.parse({ ...settings, ...overrides }), { tenant: "SHOP", deps });
  const captureOf = (orderId: string) => {
    const captureId = sim.orders.get(orderId)?.captureId;
    return captureId === undefined ? undefined : sim.captures.get(captureId);
  };
  const eventFor = (paid: { created: { pgTransactionId: string } }) => {
    const event = sim.events.find((e) => e.event_type === "PAYMENT.CAPTURE.COMPLETED" && e.resource.id === captureOf(paid.created.pgTransactionId)?.id);
    if (event === undefined) throw new Error("no PAYMENT.CAPTURE.COMPLETED for the order");
    return event;
  };
  return {
    ...DECLARED.PAYPAL,
    amount: { minor: 1999n, currency: "USD" },
    unitAmount: 1999,
    nationCode: "US",
    connector: (options) => (options?.impatient ? make({ timeoutMs: 500 }) : make()),
    unreachableConnector: () => make({ apiBase: down }),
    amountAtPg: async (created) => Number(sim.orders.get(created.pgTransactionId)?.amount.minor ?? -1),
    checkoutsAtPg: async (input) => [...sim.orders.values()].filter((order) => order.customId === input.paymentId).length,
    async pay(connector, input, created) {
      // The buyer approves on PayPal's page and comes back to PGB's return URL.
      sim.approve(created.pgTransactionId);
      const result = await connector.handleReturn({
        pgTransactionId: created.pgTransactionId,
        paymentReference: input.paymentId,
        amount: input.amount,
        query: { token: created.pgTransactionId },
      });
      if (result.status !== "PAID") throw new Error(`PayPal did not take the payment: ${result.status}`);
      return { pgTransactionId: result.pgTransactionId, paymentReference: input.paymentId, ...(result.details ? { details: result.details } : {}) };
    },
    async customerCompletes(input, created, options = {}) {
      const order = sim.orders.get(created.pgTransactionId)!;
      // PayPal's order then carries another amount or currency than PGB created it with.
      if (options.misreport === "amount") order.amount = { ...order.amount, minor: order.amount.minor + 100n };
      if (options.misreport === "currency") order.amount = { ...order.amount, currency: input.amount.currency === "EUR" ? "USD" : "EUR" };
      sim.approve(created.pgTransactionId);
      return {
        query: { token: created.pgTransactionId },
        // The buyer approved: PayPal says so (CHECKOUT.ORDER.APPROVED) while the browser comes back.
        async webhook() {
          await sim.waitForWebhooks();
          const event = sim.events.find((e) => e.event_type === "CHECKOUT.ORDER.APPROVED" && e.resource.id === created.pgTransactionId);
          if (event === undefined) throw new Error("no CHECKOUT.ORDER.APPROVED for the order");
          return receiver.waitFor(event.id);
        },
      };
    },
    async genuineWebhook(paid) {
      await sim.waitForWebhooks();
      return receiver.waitFor(eventFor(paid).id);
    },
    async forgedWebhooks(paid, genuine) {
      const body = genuine.rawBody.toString("utf8");
      const event = eventFor(paid);
      sim.advanceClock(-3600);
      const anHourAgo = sim.signedHeaders(body);
      sim.advanceClock(3600);
      return [
        { what: "signed for another webhook id", webhook: { headers: sim.signedHeaders(body, "0WH0THERWEBHOOK00"), rawBody: genuine.rawBody } },
        {
          what: "a certificate from elsewhere",
          webhook: {
            headers: { ...sim.signedHeaders(body), "paypal-cert-url": `https://evil.example/v1/notifications/certs/CERT-1` },
            rawBody: genuine.rawBody,
          },
        },
        { what: "replayed an hour later", webhook: { headers: anHourAgo, rawBody: Buffer.from(JSON.stringify(event), "utf8") } },
        { what: "altered after signing", webhook: altered(genuine) },
      ];
    },
    refundsAtPg: async (paid) => {
      const capture = captureOf(paid.created.pgTransactionId);
      return [...sim.refunds.values()].filter((refund) => refund.captureId === capture?.id).length;
    },
    // The refund is made at PayPal, and its answer never arrives.
    delayNextAnswer: () => sim.timeOutNext("POST /v2/payments/captures/"),
    throttleNext: () => sim.failNext(429, "POST /v2/payments/captures/"),
    close: () => sim.close(),
  };
}
export async function kakaoPayDriver(db: DatabaseHandle): Promise<ConformanceDriver & { close(): Promise<void> }> {
  const secretKey = "DEVconformance0123456789";
  const sim = await KakaoPaySimulator.start({ secretKey });
  const down = await unreachable();
  const deps: ConnectorDeps = { storage: connectorStorageOf(db.db), logger: silent, publicUrl: "http://pgb.test", clock: systemClock };
  const make = (overrides: Record<string, unknown> = {}): Connector =>
    kakaoPayConnector.create(kakaoPayConnector.settingsSchema.parse({ secretKey, cid: "TC0ONETIME", apiBase: sim.url, timeoutMs: 3_000, ...overrides }), {
      tenant: "SHOP",
      deps,
    });
  const cancelsOf = (tid: string): number => sim.payment(tid)?.actions.filter((action) => action.type === "CANCEL").length ?? -1;
  return {
    ...DECLARED.KAKAOPAY,
    amount: { minor: 15000n, currency: "KRW" },
    unitAmount: 15000,
    nationCode: "KR",
    connector: (options) => (options?.impatient ? make({ timeoutMs: 500 }) : make()),
    unreachableConnector: () => make({ apiBase: down }),
    amountAtPg: async (created) => sim.payment(created.pgTransactionId)?.amount.total ?? -1,
    // KakaoPay cannot be asked for a payment by PGB's reference: count the tids whose partner_order_id names it.
    checkoutsAtPg: async (input) => countReadies(sim, input.paymentId),
    async pay(connector, input, created) {
      // The buyer approves in KakaoTalk; KakaoPay sends the browser to PGB's approval URL with a pg_token.
      const pgToken = sim.authorize(created.pgTransactionId);
      const result = await connector.handleReturn({
        pgTransactionId: created.pgTransactionId,
        paymentReference: input.paymentId,
        amount: input.amount,
        query: { pg_token: pgToken },
      });
      if (result.status !== "PAID") throw new Error(`KakaoPay did not take the payment: ${result.status}`);
      return { pgTransactionId: result.pgTransactionId, paymentReference: input.paymentId, ...(result.details ? { details: result.details } : {}) };
    },
    async customerCompletes(input, created, options = {}) {
      const pgToken = sim.authorize(created.pgTransactionId);
      if (options.misreport === undefined) return { query: { pg_token: pgToken } };
      // KakaoPay refuses an approve for another total, and moves money only on PGB's approve: here the
      // approve went through (its answer lost on the way back), and KakaoPay's order then reports
      // another amount. The buyer's reload brings no pg_token. KRW only: no other currency.
      await make().handleReturn({
        pgTransactionId: created.pgTransactionId,
        paymentReference: input.paymentId,
        amount: input.amount,
        query: { pg_token: pgToken },
      });
      sim.payment(created.pgTransactionId)!.amount.total += 100;
      const reload: Record<string, string> = {};
      return { query: reload };
    },
    genuineWebhook: () => Promise.reject(new Error("KakaoPay sends no webhooks")),
    refundsAtPg: async (paid) => cancelsOf(paid.created.pgTransactionId),
    delayNextAnswer: (ms) => sim.delayNext(ms, { path: "/cancel" }),
    throttleNext: () => sim.throttleNext(1, { path: "/cancel" }),
    close: () => sim.close(),
  };
}

/** The readies whose partner_order_id is PGB's payment id and its keyed tag. */
function countReadies(sim: KakaoPaySimulator, paymentId: string): number {
  return sim.paymentsWhere((payment) => payment.partnerOrderId.startsWith(`${paymentId}.`)).length;
}
