/**
 * A local Stripe for the tests: the part of Stripe's API PGB's connector uses, spoken the way Stripe
 * speaks it, so the official SDK runs against it unchanged (Stripe constructor: host/port/protocol).
 *
 * - Requests: form-encoded with bracket nesting; Bearer (or Basic) secret-key auth.
 * - Answers: JSON objects with Stripe's ids, fields and statuses, typed against the SDK's own types;
 *   errors as {"error":{type,code,message,param}} with Stripe's HTTP statuses.
 * - Idempotency-Key on POSTs: same key and parameters replay the first answer (status included);
 *   same key with other parameters is a 400 idempotency_error; a key still executing is a 409.
 * - A hosted checkout page (/pay/:id) that works without JavaScript, plus programmatic controls.
 * - Webhooks POSTed to a configured endpoint, signed as Stripe signs them.
 * - Fault injection: error answers, slow answers, failed or pending refunds, dropped, duplicated or
 *   delayed webhooks.
 *
 * Not part of the product: it lives in the test tree and holds all state in memory.
 */
import { createHmac, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type Stripe from "stripe";
import { canonicalForm, FormError, parseForm, type FormObject, type FormValue } from "./form.ts";

// ---------------------------------------------------------------------------------------------
// Objects, typed as the SDK's own types (each a Pick of the fields the simulator implements).

type SessionFields =
  | "id"
  | "object"
  | "amount_subtotal"
  | "amount_total"
  | "cancel_url"
  | "client_reference_id"
  | "created"
  | "currency"
  | "customer"
  | "customer_email"
  | "expires_at"
  | "livemode"
  | "locale"
  | "metadata"
  | "mode"
  | "payment_intent"
  | "payment_method_types"
  | "payment_status"
  | "status"
  | "success_url"
  | "ui_mode"
  | "url";
export type SimSession = Pick<Stripe.Checkout.Session, SessionFields> & { payment_intent: string | null };

type PaymentIntentFields =
  | "id"
  | "object"
  | "amount"
  | "amount_capturable"
  | "amount_received"
  | "canceled_at"
  | "cancellation_reason"
  | "capture_method"
  | "client_secret"
  | "confirmation_method"
  | "created"
  | "currency"
  | "customer"
  | "description"
  | "last_payment_error"
  | "latest_charge"
  | "livemode"
  | "metadata"
  | "payment_method"
  | "payment_method_types"
  | "status";
export type SimPaymentIntent = Pick<Stripe.PaymentIntent, PaymentIntentFields> & { latest_charge: string | null };

type ChargeFields =
  | "id"
  | "object"
  | "amount"
  | "amount_captured"
  | "amount_refunded"
  | "captured"
  | "created"
  | "currency"
  | "failure_code"
  | "failure_message"
  | "livemode"
  | "metadata"
  | "paid"
  | "payment_intent"
  | "refunded"
  | "status";
export type SimCharge = Pick<Stripe.Charge, ChargeFields> & { payment_intent: string };

type RefundFields =
  | "id"
  | "object"
  | "amount"
  | "balance_transaction"
  | "charge"
  | "created"
  | "currency"
  | "failure_reason"
  | "metadata"
  | "payment_intent"
  | "pending_reason"
  | "reason"
  | "receipt_number"
  | "status";
export type SimRefund = Pick<Stripe.Refund, RefundFields> & { charge: string; payment_intent: string };

export type SimObject = SimSession | SimPaymentIntent | SimCharge | SimRefund;

export type SimEvent = Pick<Stripe.EventBase, "id" | "object" | "api_version" | "created" | "livemode" | "pending_webhooks" | "request"> & {
  type: Stripe.Event.Type;
  data: { object: SimObject; previous_attributes?: Record<string, unknown> };
};

export interface StripeErrorBody {
  type: "api_error" | "card_error" | "idempotency_error" | "invalid_request_error";
  message: string;
  code?: string;
  param?: string;
  decline_code?: string;
}

export interface WebhookDelivery {
  eventId: string;
  type: string;
  /** HTTP status PGB answered, "dropped" when the simulator withheld it, "error" on a network failure. */
  outcome: number | "dropped" | "error";
  body: string;
  signature: string;
  at: Date;
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  status: number;
  replayed: boolean;
}

export interface StripeSimulatorOptions {
  /** The account's secret key (default a fresh sk_test_…). */
  secretKey?: string;
  /** Where the hosted checkout page and API listen: defaults to 127.0.0.1 on an ephemeral port. */
  host?: string;
}

type RefundPlan = { kind: "succeed" } | { kind: "pend" } | { kind: "fail"; reason: string };
interface Fault {
  status: number;
  error: StripeErrorBody;
  /** True: Stripe began executing and saved the answer against the key (replayed on retry). */
  recorded: boolean;
  /** Stripe-Should-Retry, which Stripe sends e.g. with a 429 lock_timeout the client may retry. */
  shouldRetry?: boolean;
  /** Applies only to calls whose "METHOD /path" starts with this ("" = any call). */
  on: string;
}
interface Answer {
  status: number;
  body: unknown;
  /** False for answers Stripe does not save against an idempotency key (validation, auth, overload). */
  record: boolean;
  headers?: Record<string, string>;
}
interface IdempotencyEntry {
  fingerprint: string;
  answer: Answer | null;
}

const ZERO_DECIMAL = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]);
const KNOWN_CURRENCIES = new Set([...ZERO_DECIMAL, "usd", "eur", "gbp", "sgd", "twd", "thb", "aud", "cad", "chf", "hkd"]);
/** Stripe's minimum charge amounts (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), for the currencies tests use. */
const MINIMUM_CHARGE: Record<string, number> = { usd: 50, eur: 50, gbp: 30, sgd: 50, jpy: 50, thb: 1000 };
const REFUND_REASONS = new Set(["duplicate", "fraudulent", "requested_by_customer"]);
const API_VERSION = "2026-10-28.endive";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomId(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const byte of bytes) out += BASE62[byte % 62];
  return out;
}

/** Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>. */
export function stripeSignature(payload: string, secret: string, timestamp: number): string {
  const v1 = createHmac("sha256", secret).update(`${timestamp}.${payload}`, "utf8").digest("hex");
  return `t=${timestamp},v1=${v1}`;
}

export class StripeSimulator {
  readonly secretKey: string;
  readonly sessions = new Map<string, SimSession>();
  readonly paymentIntents = new Map<string, SimPaymentIntent>();
  readonly charges = new Map<string, SimCharge>();
  readonly refunds = new Map<string, SimRefund>();
  readonly events: SimEvent[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  readonly requests: RecordedRequest[] = [];

  #server: http.Server;
  #baseUrl = "";
  #clockOffsetSeconds = 0;
  #idempotency = new Map<string, IdempotencyEntry>();
  #sessionExtras = new Map<string, { productName: string; intentMetadata: Record<string, string> }>();
  #faults: Fault[] = [];
  #delays: Array<{ ms: number; on: string }> = [];
  #refundPlans: RefundPlan[] = [];
  #webhook: { url: string; secret: string; enabledEvents: ReadonlySet<string> | null } | null = null;
  #webhookPlans: Array<"drop" | "duplicate" | { delayMs: number }> = [];
  #inFlight = new Set<Promise<void>>();

  private constructor(options: StripeSimulatorOptions) {
    this.secretKey = options.secretKey ?? `sk_test_${randomId(24)}`;
    this.#server = http.createServer((request, response) => {
      void this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.#sendJson(response, 500, { error: { type: "api_error", message: `simulator fault: ${String(error)}` } }, {});
      });
    });
  }

  static async start(options: StripeSimulatorOptions = {}): Promise<StripeSimulator> {
    const simulator = new StripeSimulator(options);
    const host = options.host ?? "127.0.0.1";
    await new Promise<void>((resolve) => simulator.#server.listen(0, host, resolve));
    const { port } = simulator.#server.address() as AddressInfo;
    simulator.#baseUrl = `http://${host}:${port}`;
    return simulator;
  }

  /** e.g. http://127.0.0.1:43121: what the connector's `apiBase` setting takes. */
  get url(): string {
    return this.#baseUrl;
  }

  /** Options for `new Stripe(key, …)` that point the official SDK here. */
  get sdkConfig(): { host: string; port: number; protocol: "http" } {
    const url = new URL(this.#baseUrl);
    return { host: url.hostname, port: Number(url.port), protocol: "http" };
  }

  async close(): Promise<void> {
    await this.waitForWebhooks();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------
  // Controls for tests.

  /** Unix seconds on the simulator's clock (real time plus any advanceClock). */
  now(): number {
    return Math.floor(Date.now() / 1000) + this.#clockOffsetSeconds;
  }

  /** Moves the simulator's clock: open sessions past their expires_at expire on next access. */
  advanceClock(seconds: number): void {
    this.#clockOffsetSeconds += seconds;
    for (const session of this.sessions.values()) this.#expireIfDue(session);
  }

  /**
   * The next `count` API calls (only those whose "METHOD /path" starts with `on`, if given) answer
   * `status` with a Stripe-shaped error, before any execution unless `recorded`.
   */
  failNext(
    count: number,
    status: 400 | 401 | 402 | 404 | 409 | 429 | 500 | 502 | 503,
    options: { recorded?: boolean; code?: string; message?: string; shouldRetry?: boolean; on?: string } = {},
  ): void {
    for (let i = 0; i < count; i++) {
      this.#faults.push({
        status,
        error: faultBody(status, options.code, options.message),
        recorded: options.recorded ?? false,
        on: options.on ?? "",
        ...(options.shouldRetry === undefined ? {} : { shouldRetry: options.shouldRetry }),
      });
    }
  }

  /**
   * The next `count` API calls are executed at once but answered only after `ms`: a client that
   * times out meanwhile has had its call take effect without learning so.
   */
  delayNext(ms: number, count = 1, on = ""): void {
    for (let i = 0; i < count; i++) this.#delays.push({ ms, on });
  }

  /** The next refund is created with status "failed" (and a refund.failed event). */
  failNextRefund(reason = "expired_or_canceled_card"): void {
    this.#refundPlans.push({ kind: "fail", reason });
  }

  /** The next refund is created "pending"; settle it with settleRefund. */
  pendNextRefund(): void {
    this.#refundPlans.push({ kind: "pend" });
  }

  /** Finishes a pending refund as Stripe does later: refund.updated, plus refund.failed on failure. */
  settleRefund(refundId: string, succeed: boolean, failureReason = "expired_or_canceled_card"): SimRefund {
    const refund = this.#require(this.refunds, refundId, "refund");
    if (refund.status !== "pending") throw new Error(`refund ${refundId} is ${refund.status}, not pending`);
    const charge = this.#require(this.charges, refund.charge, "charge");
    const previous = { status: refund.status, pending_reason: refund.pending_reason };
    delete refund.pending_reason;
    if (succeed) {
      refund.status = "succeeded";
      this.#emit("refund.updated", refund, previous);
    } else {
      refund.status = "failed";
      refund.failure_reason = failureReason;
      // A failed refund gives its amount back to the charge.
      charge.amount_refunded -= refund.amount;
      charge.refunded = charge.amount_refunded >= charge.amount;
      this.#emit("refund.updated", refund, previous);
      this.#emit("refund.failed", refund);
      this.#emit("charge.refund.updated", refund);
    }
    return refund;
  }

  /**
   * A refund that had succeeded fails afterwards, as Stripe documents for card refunds (the card was
   * closed, say): status succeeded → failed with a failure_reason, the amount goes back to the charge,
   * and refund.updated, refund.failed and charge.refund.updated are sent.
   */
  failSucceededRefund(refundId: string, failureReason = "expired_or_canceled_card"): SimRefund {
    const refund = this.#require(this.refunds, refundId, "refund");
    if (refund.status !== "succeeded") throw new Error(`refund ${refundId} is ${refund.status}, not succeeded`);
    const charge = this.#require(this.charges, refund.charge, "charge");
    refund.status = "failed";
    refund.failure_reason = failureReason as SimRefund["failure_reason"];
    charge.amount_refunded -= refund.amount;
    charge.refunded = charge.amount_refunded >= charge.amount;
    this.#emit("refund.updated", refund, { status: "succeeded" });
    this.#emit("refund.failed", refund);
    this.#emit("charge.refund.updated", refund);
    return refund;
  }

  /**
   * The merchant refunds in Stripe's dashboard: a refund with no metadata of PGB's, announced by
   * charge.refunded (whose charge carries the payment's metadata) and refund.created.
   */
  dashboardRefund(sessionId: string, amount?: number): SimRefund {
    const session = this.#require(this.sessions, sessionId, "checkout.session");
    const intent = session.payment_intent === null ? undefined : this.paymentIntents.get(session.payment_intent);
    const charge = intent?.latest_charge ? this.charges.get(intent.latest_charge) : undefined;
    if (intent === undefined || charge === undefined || charge.status !== "succeeded") throw new Error(`session ${sessionId} has no charge to refund`);
    const value = amount ?? charge.amount - charge.amount_refunded;
    if (value <= 0 || value > charge.amount - charge.amount_refunded) throw new Error(`cannot refund ${value} of charge ${charge.id}`);
    const refund: SimRefund = {
      id: `re_3${randomId(24)}`,
      object: "refund",
      amount: value,
      balance_transaction: `txn_3${randomId(24)}`,
      charge: charge.id,
      created: this.now(),
      currency: charge.currency,
      metadata: {},
      payment_intent: intent.id,
      reason: "requested_by_customer",
      receipt_number: null,
      status: "succeeded",
    };
    this.refunds.set(refund.id, refund);
    charge.amount_refunded += value;
    charge.refunded = charge.amount_refunded >= charge.amount;
    this.#emit("refund.created", refund);
    this.#emit("charge.refunded", charge);
    return refund;
  }

  /**
   * The customer pays a session that was expired a moment before: the payment was already being
   * confirmed when the expiry went through, and Stripe completes it anyway (a late capture).
   */
  payAfterExpiry(sessionId: string): { redirectUrl: string } {
    const session = this.#require(this.sessions, sessionId, "checkout.session");
    if (session.status !== "expired") throw new Error(`session ${sessionId} is ${session.status}, not expired`);
    session.status = "open";
    session.expires_at = Math.max(session.expires_at, this.now() + 1);
    return this.pay(sessionId);
  }

  /** The customer pays on the hosted page. Answers the URL Stripe redirects the browser to. */
  pay(sessionId: string, options: { delayed?: boolean } = {}): { redirectUrl: string } {
    const session = this.#openSession(sessionId);
    const extras = this.#sessionExtras.get(session.id)!;
    const delayed = options.delayed ?? false;
    const amount = session.amount_total ?? 0;
    const currency = session.currency ?? "usd";
    const intentId = `pi_3${randomId(24)}`;
    const charge: SimCharge = {
      id: `ch_3${randomId(24)}`,
      object: "charge",
      amount,
      amount_captured: delayed ? 0 : amount,
      amount_refunded: 0,
      captured: !delayed,
      created: this.now(),
      currency,
      failure_code: null,
      failure_message: null,
      livemode: false,
      metadata: { ...extras.intentMetadata },
      paid: !delayed,
      payment_intent: intentId,
      refunded: false,
      status: delayed ? "pending" : "succeeded",
    };
    const intent: SimPaymentIntent = {
      id: intentId,
      object: "payment_intent",
      amount,
      amount_capturable: 0,
      amount_received: delayed ? 0 : amount,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: "automatic_async",
      client_secret: `${intentId}_secret_${randomId(24)}`,
      confirmation_method: "automatic",
      created: this.now(),
      currency,
      customer: null,
      description: null,
      last_payment_error: null,
      latest_charge: charge.id,
      livemode: false,
      metadata: { ...extras.intentMetadata },
      payment_method: `pm_1${randomId(24)}`,
      // A delayed method: a bank debit whose outcome arrives days later.
      payment_method_types: [delayed ? "us_bank_account" : "card"],
      status: delayed ? "processing" : "succeeded",
    };
    this.charges.set(charge.id, charge);
    this.paymentIntents.set(intent.id, intent);
    session.status = "complete";
    session.payment_status = delayed ? "unpaid" : "paid";
    session.payment_intent = intent.id;
    session.url = null;
    if (delayed) {
      this.#emit("charge.pending", charge);
      this.#emit("payment_intent.processing", intent);
    } else {
      this.#emit("charge.succeeded", charge);
      this.#emit("payment_intent.succeeded", intent);
    }
    this.#emit("checkout.session.completed", session);
    return { redirectUrl: (session.success_url ?? "").replaceAll("{CHECKOUT_SESSION_ID}", session.id) };
  }

  /** The outcome of a delayed payment arrives. */
  completeDelayed(sessionId: string, succeed: boolean): void {
    const session = this.#require(this.sessions, sessionId, "checkout.session");
    const intent = session.payment_intent === null ? undefined : this.paymentIntents.get(session.payment_intent);
    if (session.status !== "complete" || session.payment_status !== "unpaid" || intent?.status !== "processing") {
      throw new Error(`session ${sessionId} has no delayed payment in progress`);
    }
    const charge = this.#require(this.charges, intent.latest_charge ?? "", "charge");
    if (succeed) {
      intent.status = "succeeded";
      intent.amount_received = intent.amount;
      Object.assign(charge, { status: "succeeded", paid: true, captured: true, amount_captured: charge.amount });
      session.payment_status = "paid";
      this.#emit("charge.succeeded", charge);
      this.#emit("payment_intent.succeeded", intent);
      this.#emit("checkout.session.async_payment_succeeded", session);
    } else {
      // As Stripe does after a failed debit: the intent goes back to requires_payment_method.
      intent.status = "requires_payment_method";
      intent.last_payment_error = {
        type: "card_error",
        code: "payment_method_provider_decline",
        decline_code: "insufficient_funds",
        message: "The customer's bank account has insufficient funds to cover this payment.",
      };
      Object.assign(charge, {
        status: "failed",
        failure_code: "insufficient_funds",
        failure_message: "The customer's account has insufficient funds to cover this payment.",
      });
      this.#emit("charge.failed", charge);
      this.#emit("payment_intent.payment_failed", intent);
      this.#emit("checkout.session.async_payment_failed", session);
    }
  }

  /** The session expires (as at its expires_at, or through the API). */
  expire(sessionId: string): SimSession {
    const session = this.#openSession(sessionId);
    this.#expireSession(session);
    return session;
  }

  /** Sends webhooks to `url`, signed with `secret`; `enabledEvents` limits the types (default all). */
  setWebhookEndpoint(url: string, secret: string, enabledEvents?: readonly string[]): void {
    this.#webhook = { url, secret, enabledEvents: enabledEvents === undefined ? null : new Set(enabledEvents) };
  }

  dropNextWebhook(): void {
    this.#webhookPlans.push("drop");
  }

  duplicateNextWebhook(): void {
    this.#webhookPlans.push("duplicate");
  }

  delayNextWebhook(delayMs: number): void {
    this.#webhookPlans.push({ delayMs });
  }

  /** Resolves once every webhook delivery started so far has been answered. */
  async waitForWebhooks(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Delivers an already sent event again (Stripe's manual "resend"), signed at `timestamp`. */
  resendEvent(eventId: string, options: { timestamp?: number } = {}): Promise<void> {
    const event = this.events.find((candidate) => candidate.id === eventId);
    if (event === undefined) throw new Error(`no event ${eventId}`);
    return this.#deliver(event, options.timestamp);
  }

  /**
   * The exact request Stripe would send for `eventId` (body and Stripe-Signature), without sending
   * it, optionally signed at another time or with another secret: for replay and forgery tests.
   */
  signedDelivery(eventId: string, options: { timestamp?: number; secret?: string } = {}): { headers: Record<string, string>; rawBody: Buffer } {
    const event = this.events.find((candidate) => candidate.id === eventId);
    if (event === undefined) throw new Error(`no event ${eventId}`);
    const secret = options.secret ?? this.#webhook?.secret;
    if (secret === undefined) throw new Error("no webhook endpoint configured and no secret given");
    const body = eventBody(event);
    const signature = stripeSignature(body, secret, options.timestamp ?? Math.floor(Date.now() / 1000));
    return { headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": signature }, rawBody: Buffer.from(body, "utf8") };
  }

  eventsOfType(type: string): SimEvent[] {
    return this.events.filter((event) => event.type === type);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP.

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", this.#baseUrl);
    const method = (request.method ?? "GET").toUpperCase();
    const rawBody = await readBody(request);
    if (url.pathname.startsWith("/pay/")) return this.#handleCheckoutPage(method, url, rawBody, response);
    const idempotencyKey = headerOf(request, "idempotency-key");
    const answer = await this.#answerApi(method, url, rawBody, idempotencyKey, request);
    this.requests.push({ method, path: url.pathname, idempotencyKey, status: answer.status, replayed: answer.headers?.["Idempotent-Replayed"] === "true" });
    const delay = takeFirst(this.#delays, `${method} ${url.pathname}`);
    if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay.ms));
    if (response.destroyed) return;
    const headers: Record<string, string> = { "Stripe-Version": headerOf(request, "stripe-version") ?? API_VERSION, ...answer.headers };
    if (idempotencyKey !== undefined && method === "POST") headers["Idempotency-Key"] = idempotencyKey;
    this.#sendJson(response, answer.status, answer.body, headers);
  }

  async #answerApi(method: string, url: URL, rawBody: string, idempotencyKey: string | undefined, request: http.IncomingMessage): Promise<Answer> {
    const auth = this.#authenticate(headerOf(request, "authorization"));
    if (auth !== null) return auth;
    let params: FormObject;
    try {
      params = parseForm(method === "GET" ? url.search.slice(1) : rawBody);
    } catch (error) {
      if (error instanceof FormError) return invalid(error.message, error.param);
      throw error;
    }
    const fault = takeFirst(this.#faults, `${method} ${url.pathname}`);
    if (fault !== undefined && !fault.recorded) {
      const headers: Record<string, string> = fault.shouldRetry === undefined ? {} : { "Stripe-Should-Retry": String(fault.shouldRetry) };
      return { status: fault.status, body: { error: fault.error }, record: false, headers };
    }

    if (method !== "POST" || idempotencyKey === undefined) return fault === undefined ? this.#route(method, url.pathname, params) : recordedFault(fault);
    if (idempotencyKey.length > 255) return invalid("Idempotency-Key must be at most 255 characters long.", "idempotency_key");
    const scopedKey = `${this.secretKey}:${idempotencyKey}`;
    const fingerprint = `${method} ${url.pathname} ${canonicalForm(params)}`;
    const entry = this.#idempotency.get(scopedKey);
    if (entry !== undefined) {
      if (entry.fingerprint !== fingerprint) {
        return {
          status: 400,
          record: false,
          body: {
            error: {
              type: "idempotency_error",
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            },
          },
        };
      }
      if (entry.answer === null) {
        return {
          status: 409,
          record: false,
          body: {
            error: {
              type: "invalid_request_error",
              code: "idempotency_key_in_use",
              message: "There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.",
            },
          },
        };
      }
      return { ...entry.answer, headers: { ...entry.answer.headers, "Idempotent-Replayed": "true" } };
    }
    this.#idempotency.set(scopedKey, { fingerprint, answer: null });
    const answer = fault === undefined ? this.#route(method, url.pathname, params) : recordedFault(fault);
    if (answer.record) this.#idempotency.set(scopedKey, { fingerprint, answer });
    else this.#idempotency.delete(scopedKey);
    return answer;
  }

  #authenticate(header: string | undefined): Answer | null {
    if (header === undefined || header.trim() === "") {
      return {
        status: 401,
        record: false,
        body: {
          error: {
            type: "invalid_request_error",
            message:
              "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
          },
        },
      };
    }
    let key: string;
    if (/^bearer /i.test(header)) key = header.slice(7).trim();
    else if (/^basic /i.test(header)) key = Buffer.from(header.slice(6).trim(), "base64").toString("utf8").split(":")[0] ?? "";
    else key = "";
    if (key === this.secretKey) return null;
    const masked = key.length > 12 ? `${key.slice(0, 8)}${"*".repeat(Math.max(key.length - 12, 4))}${key.slice(-4)}` : "****";
    return { status: 401, record: false, body: { error: { type: "invalid_request_error", message: `Invalid API Key provided: ${masked}` } } };
  }

  #route(method: string, path: string, params: FormObject): Answer {
    const expand = stringList(params.expand);
    if (typeof expand === "string") return invalid(expand, "expand");
    let match: RegExpExecArray | null;
    if (path === "/v1/checkout/sessions" && method === "POST") return this.#createSession(params, expand);
    if ((match = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path)) && method === "GET") {
      const session = this.#find(this.sessions, match[1]!, "checkout.session", "session");
      return "record" in session ? session : this.#ok(session, expand);
    }
    if ((match = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path)) && method === "POST") return this.#expireViaApi(match[1]!, params, expand);
    if ((match = /^\/v1\/payment_intents\/([^/]+)$/.exec(path)) && method === "GET") {
      const intent = this.#find(this.paymentIntents, match[1]!, "payment_intent", "intent");
      return "record" in intent ? intent : this.#ok(intent, expand);
    }
    if (path === "/v1/refunds" && method === "POST") return this.#createRefund(params, expand);
    if (path === "/v1/refunds" && method === "GET") return this.#listRefunds(params, expand);
    if ((match = /^\/v1\/refunds\/([^/]+)$/.exec(path)) && method === "GET") {
      const refund = this.#find(this.refunds, match[1]!, "refund", "refund");
      return "record" in refund ? refund : this.#ok(refund, expand);
    }
    return {
      status: 404,
      record: false,
      body: {
        error: {
          type: "invalid_request_error",
          message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
        },
      },
    };
  }

  #find<T extends SimObject>(map: Map<string, T>, id: string, objectName: string, param: string): T | Answer {
    const found = map.get(id);
    if (found === undefined) {
      return {
        status: 404,
        record: true,
        body: { error: { type: "invalid_request_error", code: "resource_missing", message: `No such ${objectName}: '${id}'`, param } },
      };
    }
    if (found.object === "checkout.session") this.#expireIfDue(found as SimSession);
    return found;
  }

  #ok(object: SimObject, expand: string[]): Answer {
    const rendered = this.#render(object, expand);
    if (typeof rendered === "string") return invalid(rendered, "expand");
    return { status: 200, body: rendered, record: true };
  }

  /** JSON of an object with `expand` paths (e.g. payment_intent.latest_charge) replaced by objects. */
  #render(object: SimObject, expand: string[]): Record<string, unknown> | string {
    const out: Record<string, unknown> = structuredClone(object) as Record<string, unknown>;
    const byField = new Map<string, string[]>();
    for (const path of expand) {
      const [field, ...rest] = path.split(".");
      byField.set(field!, [...(byField.get(field!) ?? []), ...(rest.length > 0 ? [rest.join(".")] : [])]);
    }
    for (const [field, nested] of byField) {
      const target = this.#expandable(object, field);
      if (target === undefined) return `This property cannot be expanded (${field}).`;
      if (target === null) continue;
      const rendered = this.#render(target, nested);
      if (typeof rendered === "string") return rendered;
      out[field] = rendered;
    }
    return out;
  }

  #expandable(object: SimObject, field: string): SimObject | null | undefined {
    const lookup = <T extends SimObject>(map: Map<string, T>, id: string | null): T | null => (id === null ? null : (map.get(id) ?? null));
    switch (`${object.object}.${field}`) {
      case "checkout.session.payment_intent":
        return lookup(this.paymentIntents, (object as SimSession).payment_intent);
      case "payment_intent.latest_charge":
        return lookup(this.charges, (object as SimPaymentIntent).latest_charge);
      case "charge.payment_intent":
        return lookup(this.paymentIntents, (object as SimCharge).payment_intent);
      case "refund.charge":
        return lookup(this.charges, (object as SimRefund).charge);
      case "refund.payment_intent":
        return lookup(this.paymentIntents, (object as SimRefund).payment_intent);
      default:
        return undefined;
    }
  }

  #createSession(params: FormObject, expand: string[]): Answer {
    const unknown = unknownParam(params, [
      "mode",
      "line_items",
      "success_url",
      "cancel_url",
      "client_reference_id",
      "metadata",
      "payment_intent_data",
      "expires_at",
      "expand",
      "currency",
      "customer_email",
      "locale",
    ]);
    if (unknown !== undefined) return invalid(`Received unknown parameter: ${unknown}`, unknown);
    if (params.mode === undefined) return missing("mode");
    if (params.mode !== "payment") return invalid("This simulator supports mode=payment only.", "mode");
    const items = params.line_items;
    if (items === undefined) return missing("line_items");
    if (!Array.isArray(items) || items.length === 0 || items.length > 100) return invalid("line_items must be a list of 1 to 100 items.", "line_items");
    let currency: string | undefined;
    let total = 0;
    let productName = "";
    for (const [i, item] of items.entries()) {
      const param = `line_items[${i}]`;
      if (typeof item !== "object" || Array.isArray(item)) return invalid("Invalid hash", param);
      const unknownItem = unknownParam(item, ["price_data", "quantity", "price"]);
      if (unknownItem !== undefined) return invalid(`Received unknown parameter: ${param}[${unknownItem}]`, `${param}[${unknownItem}]`);
      if (typeof item.price === "string")
        return {
          status: 400,
          record: false,
          body: { error: { type: "invalid_request_error", code: "resource_missing", message: `No such price: '${item.price}'`, param: `${param}[price]` } },
        };
      const quantity = integer(item.quantity);
      if (item.quantity === undefined) return missing(`${param}[quantity]`);
      if (quantity === undefined || quantity < 1) return invalid("Invalid integer: quantity must be a positive integer.", `${param}[quantity]`);
      const priceData = item.price_data;
      if (priceData === undefined) return invalid("You must specify either `price` or `price_data` for each line item.", `${param}[price_data]`);
      if (typeof priceData !== "object" || Array.isArray(priceData)) return invalid("Invalid hash", `${param}[price_data]`);
      const unknownPrice = unknownParam(priceData, ["currency", "unit_amount", "product_data"]);
      if (unknownPrice !== undefined)
        return invalid(`Received unknown parameter: ${param}[price_data][${unknownPrice}]`, `${param}[price_data][${unknownPrice}]`);
      const itemCurrency = typeof priceData.currency === "string" ? priceData.currency.toLowerCase() : undefined;
      if (itemCurrency === undefined) return missing(`${param}[price_data][currency]`);
      if (!KNOWN_CURRENCIES.has(itemCurrency)) return invalid(`Invalid currency: ${itemCurrency}.`, `${param}[price_data][currency]`);
      if (currency !== undefined && currency !== itemCurrency) return invalid("All line items must share one currency.", `${param}[price_data][currency]`);
      currency = itemCurrency;
      const unitAmount = integer(priceData.unit_amount);
      if (priceData.unit_amount === undefined) return missing(`${param}[price_data][unit_amount]`);
      if (unitAmount === undefined || unitAmount < 0)
        return {
          status: 400,
          record: false,
          body: {
            error: { type: "invalid_request_error", code: "parameter_invalid_integer", message: "Invalid integer", param: `${param}[price_data][unit_amount]` },
          },
        };
      const productData = priceData.product_data;
      if (typeof productData !== "object" || Array.isArray(productData)) return missing(`${param}[price_data][product_data]`);
      if (typeof productData.name !== "string" || productData.name === "") return missing(`${param}[price_data][product_data][name]`);
      productName ||= productData.name;
      total += unitAmount * quantity;
    }
    if (typeof params.currency === "string" && params.currency.toLowerCase() !== currency)
      return invalid("currency must match the line items' currency.", "currency");
    const minimum = MINIMUM_CHARGE[currency!];
    if (total < 1 || (minimum !== undefined && total < minimum)) {
      return {
        status: 400,
        record: false,
        body: {
          error: {
            type: "invalid_request_error",
            code: "amount_too_small",
            message: `The Checkout Session's total amount due must add up to at least ${minimum ?? 1} ${currency}.`,
            param: "line_items",
          },
        },
      };
    }
    if (params.success_url === undefined) return missing("success_url");
    for (const name of ["success_url", "cancel_url"] as const) {
      const value = params[name];
      if (value !== undefined && (typeof value !== "string" || !isHttpUrl(value.replaceAll("{CHECKOUT_SESSION_ID}", "x"))))
        return invalid("Not a valid URL", name);
    }
    const clientReferenceId = params.client_reference_id;
    if (clientReferenceId !== undefined && (typeof clientReferenceId !== "string" || clientReferenceId.length > 200))
      return invalid("client_reference_id must be at most 200 characters.", "client_reference_id");
    const metadata = metadataParam(params.metadata, "metadata");
    if (typeof metadata === "string") return invalid(metadata, "metadata");
    let intentMetadata: Record<string, string> = {};
    if (params.payment_intent_data !== undefined) {
      const data = params.payment_intent_data;
      if (typeof data !== "object" || Array.isArray(data)) return invalid("Invalid hash", "payment_intent_data");
      const unknownData = unknownParam(data, ["metadata", "description"]);
      if (unknownData !== undefined) return invalid(`Received unknown parameter: payment_intent_data[${unknownData}]`, `payment_intent_data[${unknownData}]`);
      const parsed = metadataParam(data.metadata, "payment_intent_data[metadata]");
      if (typeof parsed === "string") return invalid(parsed, "payment_intent_data[metadata]");
      intentMetadata = parsed;
    }
    const now = this.now();
    let expiresAt = now + 24 * 3600;
    if (params.expires_at !== undefined) {
      const wanted = integer(params.expires_at);
      if (wanted === undefined)
        return {
          status: 400,
          record: false,
          body: { error: { type: "invalid_request_error", code: "parameter_invalid_integer", message: "Invalid integer", param: "expires_at" } },
        };
      if (wanted < now + 30 * 60) return invalid("The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.", "expires_at");
      if (wanted > now + 24 * 3600) return invalid("The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.", "expires_at");
      expiresAt = wanted;
    }
    const id = `cs_test_a1${randomId(56)}`;
    const session: SimSession = {
      id,
      object: "checkout.session",
      amount_subtotal: total,
      amount_total: total,
      cancel_url: typeof params.cancel_url === "string" ? params.cancel_url : null,
      client_reference_id: typeof clientReferenceId === "string" ? clientReferenceId : null,
      created: now,
      currency: currency!,
      customer: null,
      customer_email: typeof params.customer_email === "string" ? params.customer_email : null,
      expires_at: expiresAt,
      livemode: false,
      locale: null,
      metadata,
      mode: "payment",
      payment_intent: null,
      payment_method_types: ["card", "us_bank_account"],
      payment_status: "unpaid",
      status: "open",
      success_url: params.success_url as string,
      ui_mode: "hosted_page",
      url: `${this.#baseUrl}/pay/${id}`,
    };
    this.sessions.set(id, session);
    this.#sessionExtras.set(id, { productName, intentMetadata });
    return this.#ok(session, expand);
  }

  #expireViaApi(id: string, params: FormObject, expand: string[]): Answer {
    const unknown = unknownParam(params, ["expand"]);
    if (unknown !== undefined) return invalid(`Received unknown parameter: ${unknown}`, unknown);
    const found = this.#find(this.sessions, id, "checkout.session", "session");
    if ("record" in found) return found;
    const session = found as SimSession;
    if (session.status !== "open") {
      return {
        status: 400,
        record: true,
        body: {
          error: {
            type: "invalid_request_error",
            message: `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
          },
        },
      };
    }
    this.#expireSession(session);
    return this.#ok(session, expand);
  }

  #createRefund(params: FormObject, expand: string[]): Answer {
    const unknown = unknownParam(params, ["payment_intent", "charge", "amount", "reason", "metadata", "expand"]);
    if (unknown !== undefined) return invalid(`Received unknown parameter: ${unknown}`, unknown);
    let charge: SimCharge | undefined;
    let intent: SimPaymentIntent | undefined;
    if (typeof params.payment_intent === "string") {
      intent = this.paymentIntents.get(params.payment_intent);
      if (intent === undefined)
        return {
          status: 404,
          record: true,
          body: {
            error: {
              type: "invalid_request_error",
              code: "resource_missing",
              message: `No such payment_intent: '${params.payment_intent}'`,
              param: "payment_intent",
            },
          },
        };
      charge = intent.latest_charge === null ? undefined : this.charges.get(intent.latest_charge);
    } else if (typeof params.charge === "string") {
      charge = this.charges.get(params.charge);
      if (charge === undefined)
        return {
          status: 404,
          record: true,
          body: { error: { type: "invalid_request_error", code: "resource_missing", message: `No such charge: '${params.charge}'`, param: "charge" } },
        };
      intent = this.paymentIntents.get(charge.payment_intent);
    } else {
      return invalid("One of the following params should be provided for this request: payment_intent or charge.", "payment_intent");
    }
    if (intent === undefined || charge === undefined || intent.status !== "succeeded" || charge.status !== "succeeded") {
      return {
        status: 400,
        record: true,
        body: {
          error: {
            type: "invalid_request_error",
            code: "charge_not_refundable",
            message: `This PaymentIntent (${intent?.id ?? "unknown"}) does not have a successful charge to refund.`,
            param: "payment_intent",
          },
        },
      };
    }
    const remaining = charge.amount - charge.amount_refunded;
    if (remaining <= 0)
      return {
        status: 400,
        record: true,
        body: { error: { type: "invalid_request_error", code: "charge_already_refunded", message: `Charge ${charge.id} has already been refunded.` } },
      };
    let amount = remaining;
    if (params.amount !== undefined) {
      const wanted = integer(params.amount);
      if (wanted === undefined || wanted < 1)
        return {
          status: 400,
          record: false,
          body: { error: { type: "invalid_request_error", code: "parameter_invalid_integer", message: "Invalid positive integer", param: "amount" } },
        };
      if (wanted > remaining) {
        return {
          status: 400,
          record: true,
          body: {
            error: {
              type: "invalid_request_error",
              code: "amount_too_large",
              message: `Refund amount (${wanted}) is greater than unrefunded amount on charge (${remaining})`,
              param: "amount",
            },
          },
        };
      }
      amount = wanted;
    }
    if (params.reason !== undefined && (typeof params.reason !== "string" || !REFUND_REASONS.has(params.reason)))
      return invalid("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer", "reason");
    const metadata = metadataParam(params.metadata, "metadata");
    if (typeof metadata === "string") return invalid(metadata, "metadata");
    const plan = this.#refundPlans.shift() ?? { kind: "succeed" };
    const refund: SimRefund = {
      id: `re_3${randomId(24)}`,
      object: "refund",
      amount,
      balance_transaction: plan.kind === "fail" ? null : `txn_3${randomId(24)}`,
      charge: charge.id,
      created: this.now(),
      currency: charge.currency,
      metadata,
      payment_intent: intent.id,
      reason: typeof params.reason === "string" ? params.reason : null,
      receipt_number: null,
      status: plan.kind === "succeed" ? "succeeded" : plan.kind === "pend" ? "pending" : "failed",
      ...(plan.kind === "pend" ? { pending_reason: "processing" as const } : {}),
      ...(plan.kind === "fail" ? { failure_reason: plan.reason } : {}),
    };
    this.refunds.set(refund.id, refund);
    this.#emit("refund.created", refund);
    if (plan.kind === "fail") {
      this.#emit("refund.failed", refund);
    } else {
      // Stripe counts a pending refund against the charge at once and gives it back if it fails.
      charge.amount_refunded += amount;
      charge.refunded = charge.amount_refunded >= charge.amount;
      this.#emit("charge.refunded", charge);
    }
    return this.#ok(refund, expand);
  }

  /** GET /v1/refunds: newest first, filtered by payment_intent or charge, cursor-paginated. */
  #listRefunds(params: FormObject, expand: string[]): Answer {
    const unknown = unknownParam(params, ["payment_intent", "charge", "limit", "starting_after", "ending_before", "expand", "created"]);
    if (unknown !== undefined) return invalid(`Received unknown parameter: ${unknown}`, unknown);
    const limit = params.limit === undefined ? 10 : integer(params.limit);
    if (limit === undefined || limit < 1 || limit > 100) return invalid("Invalid integer: limit must be between 1 and 100.", "limit");
    const all = [...this.refunds.values()]
      .map((refund, index) => ({ refund, index }))
      .filter(
        ({ refund }) =>
          (typeof params.payment_intent !== "string" || refund.payment_intent === params.payment_intent) &&
          (typeof params.charge !== "string" || refund.charge === params.charge),
      )
      .sort((a, b) => b.refund.created - a.refund.created || b.index - a.index)
      .map(({ refund }) => refund);
    let start = 0;
    let end = all.length;
    if (typeof params.starting_after === "string") {
      const at = all.findIndex((refund) => refund.id === params.starting_after);
      if (at === -1)
        return {
          status: 400,
          record: false,
          body: {
            error: { type: "invalid_request_error", code: "resource_missing", message: `No such refund: '${params.starting_after}'`, param: "starting_after" },
          },
        };
      start = at + 1;
    }
    if (typeof params.ending_before === "string") {
      const at = all.findIndex((refund) => refund.id === params.ending_before);
      if (at === -1)
        return {
          status: 400,
          record: false,
          body: {
            error: { type: "invalid_request_error", code: "resource_missing", message: `No such refund: '${params.ending_before}'`, param: "ending_before" },
          },
        };
      end = at;
      start = Math.max(start, end - limit);
    }
    const page = all.slice(start, Math.min(end, start + limit));
    const data: Array<Record<string, unknown>> = [];
    for (const refund of page) {
      // expand applies to list items as data.<field>.
      const rendered = this.#render(
        refund,
        expand.filter((path) => path.startsWith("data.")).map((path) => path.slice("data.".length)),
      );
      if (typeof rendered === "string") return invalid(rendered, "expand");
      data.push(rendered);
    }
    const body = { object: "list", data, has_more: start + page.length < end, url: "/v1/refunds" } satisfies Pick<
      Stripe.ApiList<unknown>,
      "object" | "has_more" | "url"
    > & { data: unknown[] };
    return { status: 200, record: true, body };
  }

  // -------------------------------------------------------------------------------------------
  // Checkout page: plain HTML forms, so a browser (or a test with fetch) pays without JavaScript.

  #handleCheckoutPage(method: string, url: URL, rawBody: string, response: http.ServerResponse): void {
    const id = decodeURIComponent(url.pathname.slice("/pay/".length));
    const session = this.sessions.get(id);
    if (session === undefined) return this.#sendHtml(response, 404, page("Not found", "<p>Something went wrong: this Checkout Session does not exist.</p>"));
    this.#expireIfDue(session);
    if (method === "GET") {
      if (session.status !== "open")
        return this.#sendHtml(
          response,
          410,
          page("Session ended", `<p>This Checkout Session is no longer active (${escapeHtml(session.status ?? "unknown")}).</p>`),
        );
      const extras = this.#sessionExtras.get(id)!;
      const amount = formatAmount(session.amount_total ?? 0, session.currency ?? "usd");
      const form = (action: string, label: string) =>
        `<form method="post" action="/pay/${encodeURIComponent(id)}"><input type="hidden" name="action" value="${action}"><button type="submit" name="submit" value="${action}">${label}</button></form>`;
      return this.#sendHtml(
        response,
        200,
        page(
          "Pay",
          `<h1>${escapeHtml(extras.productName)}</h1><p class="amount">${escapeHtml(amount)}</p>` +
            form("pay", "Pay") +
            form("pay_delayed", "Pay by bank debit (settles later)") +
            form("cancel", "Cancel and return"),
        ),
      );
    }
    if (method !== "POST") return this.#sendHtml(response, 405, page("Method not allowed", ""));
    const action = new URLSearchParams(rawBody).get("action");
    if (action === "cancel") return redirect(response, session.cancel_url ?? session.success_url ?? "/");
    if (session.status !== "open") return this.#sendHtml(response, 409, page("Session ended", "<p>This Checkout Session is no longer active.</p>"));
    if (action === "pay" || action === "pay_delayed") return redirect(response, this.pay(id, { delayed: action === "pay_delayed" }).redirectUrl);
    return this.#sendHtml(response, 400, page("Bad request", "<p>Unknown action.</p>"));
  }

  // -------------------------------------------------------------------------------------------
  // State helpers and webhooks.

  #openSession(id: string): SimSession {
    const session = this.#require(this.sessions, id, "checkout.session");
    this.#expireIfDue(session);
    if (session.status !== "open") throw new Error(`session ${id} is ${session.status}, not open`);
    return session;
  }

  #require<T>(map: Map<string, T>, id: string, what: string): T {
    const found = map.get(id);
    if (found === undefined) throw new Error(`no ${what} ${id}`);
    return found;
  }

  #expireIfDue(session: SimSession): void {
    if (session.status === "open" && this.now() >= session.expires_at) this.#expireSession(session);
  }

  #expireSession(session: SimSession): void {
    session.status = "expired";
    session.url = null;
    this.#emit("checkout.session.expired", session);
  }

  #emit(type: Stripe.Event.Type, object: SimObject, previousAttributes?: Record<string, unknown>): SimEvent {
    const event: SimEvent = {
      id: `evt_3${randomId(24)}`,
      object: "event",
      api_version: API_VERSION,
      created: this.now(),
      livemode: false,
      pending_webhooks: this.#webhook === null ? 0 : 1,
      request: { id: `req_${randomId(14)}`, idempotency_key: null },
      type,
      // A snapshot: later changes to the object must not alter what this event said.
      data: { object: structuredClone(object), ...(previousAttributes === undefined ? {} : { previous_attributes: previousAttributes }) },
    };
    this.events.push(event);
    const endpoint = this.#webhook;
    if (endpoint !== null && (endpoint.enabledEvents === null || endpoint.enabledEvents.has(type))) {
      const plan = this.#webhookPlans.shift();
      if (plan === "drop") {
        this.deliveries.push({ eventId: event.id, type, outcome: "dropped", body: eventBody(event), signature: "", at: new Date() });
      } else {
        const copies = plan === "duplicate" ? 2 : 1;
        const delayMs = typeof plan === "object" ? plan.delayMs : 0;
        for (let i = 0; i < copies; i++) this.#track(delay(delayMs).then(() => this.#deliver(event)));
      }
    }
    return event;
  }

  #track(promise: Promise<void>): void {
    const tracked = promise.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #deliver(event: SimEvent, timestamp?: number): Promise<void> {
    const endpoint = this.#webhook;
    if (endpoint === null) throw new Error("no webhook endpoint configured");
    const body = eventBody(event);
    const signature = stripeSignature(body, endpoint.secret, timestamp ?? Math.floor(Date.now() / 1000));
    let outcome: WebhookDelivery["outcome"];
    try {
      const answer = await fetch(endpoint.url, {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          "stripe-signature": signature,
          "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await answer.arrayBuffer();
      outcome = answer.status;
    } catch {
      outcome = "error";
    }
    this.deliveries.push({ eventId: event.id, type: event.type, outcome, body, signature, at: new Date() });
  }

  #sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    const text = JSON.stringify(body, null, 2);
    response.writeHead(status, {
      "Content-Type": "application/json",
      "Request-Id": `req_${randomId(14)}`,
      "Content-Length": Buffer.byteLength(text),
      ...headers,
    });
    response.end(text);
  }

  #sendHtml(response: http.ServerResponse, status: number, html: string): void {
    response.writeHead(status, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(html) });
    response.end(html);
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** Stripe sends events pretty-printed; the signature covers these exact bytes. */
function eventBody(event: SimEvent): string {
  return JSON.stringify(event, null, 2);
}

/** Removes and answers the first planned fault or delay that applies to `call` ("METHOD /path"). */
function takeFirst<T extends { on: string }>(plans: T[], call: string): T | undefined {
  const index = plans.findIndex((plan) => call.startsWith(plan.on));
  return index === -1 ? undefined : plans.splice(index, 1)[0];
}

function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function headerOf(request: http.IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function invalid(message: string, param: string): Answer {
  return { status: 400, record: false, body: { error: { type: "invalid_request_error", message, param } } };
}

function missing(param: string): Answer {
  return {
    status: 400,
    record: false,
    body: { error: { type: "invalid_request_error", code: "parameter_missing", message: `Missing required param: ${param}.`, param } },
  };
}

function recordedFault(fault: Fault): Answer {
  // Stripe asks clients not to retry an answer its idempotency layer will only replay.
  return { status: fault.status, body: { error: fault.error }, record: true, headers: { "Stripe-Should-Retry": "false" } };
}

function faultBody(status: number, code: string | undefined, message: string | undefined): StripeErrorBody {
  switch (status) {
    case 429:
      return {
        type: "invalid_request_error",
        code: code ?? "rate_limit",
        message: message ?? "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
      };
    case 402:
      return { type: "card_error", code: code ?? "card_declined", decline_code: "generic_decline", message: message ?? "Your card was declined." };
    case 401:
      return { type: "invalid_request_error", message: message ?? "Invalid API Key provided." };
    case 404:
      return { type: "invalid_request_error", code: code ?? "resource_missing", message: message ?? "No such object." };
    case 400:
    case 409:
      return { type: "invalid_request_error", ...(code === undefined ? {} : { code }), message: message ?? "Invalid request." };
    default:
      return {
        type: "api_error",
        ...(code === undefined ? {} : { code }),
        message: message ?? "Sorry, something went wrong. We've already been notified of the problem.",
      };
  }
}

function unknownParam(params: FormObject, allowed: readonly string[]): string | undefined {
  return Object.keys(params).find((key) => !allowed.includes(key));
}

function integer(value: FormValue | undefined): number | undefined {
  if (typeof value !== "string" || !/^-?(0|[1-9][0-9]*)$/.test(value)) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

function stringList(value: FormValue | undefined): string[] | string {
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((item): item is string => typeof item === "string")) return value;
  return "expand must be a list of strings";
}

/** Stripe's metadata rules: up to 50 keys, keys ≤ 40 characters, values ≤ 500, strings only. */
function metadataParam(value: FormValue | undefined, param: string): Record<string, string> | string {
  if (value === undefined || value === "") return {};
  if (typeof value !== "object" || Array.isArray(value)) return `Invalid hash: ${param}`;
  const entries = Object.entries(value);
  if (entries.length > 50) return `${param} can have at most 50 keys`;
  const out: Record<string, string> = {};
  for (const [key, item] of entries) {
    if (typeof item !== "string") return `Invalid value for ${param}[${key}]: metadata values must be strings`;
    if (key.length > 40) return `Metadata keys can be at most 40 characters: ${key}`;
    if (item.length > 500) return `Metadata values can be at most 500 characters: ${key}`;
    out[key] = item;
  }
  return out;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function formatAmount(amount: number, currency: string): string {
  const exponent = ZERO_DECIMAL.has(currency) ? 0 : 2;
  return `${(amount / 10 ** exponent).toFixed(exponent)} ${currency.toUpperCase()}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Stripe simulator</title></head><body>${body}</body></html>`;
}

function redirect(response: http.ServerResponse, location: string): void {
  response.writeHead(303, { Location: location, "Content-Length": 0 });
  response.end();
}
