/**
 * A local PayPal for the tests: the part of PayPal's REST API PGB's connector uses, spoken as
 * PayPal's Orders v2, Payments v2 and Webhooks v1 specifications describe it.
 *
 * - OAuth2 client credentials (`POST /v1/oauth2/token`, Basic client_id:secret); Bearer tokens that
 *   expire after `expires_in`; an unknown or expired token is a 401 `invalid_token`.
 * - Orders: create (intent CAPTURE, one purchase unit, PayPal's amount rules), get, capture; the
 *   approval link is `rel: payer-action` with payment_source.paypal.experience_context and
 *   `rel: approve` with the legacy application_context, both to `/checkoutnow?token=<id>`.
 * - Payments: get capture, refund a capture (partial or the rest), get refund.
 * - `PayPal-Request-Id` on a POST: a repeat answers 200 with the latest state of what the first call
 *   made (PayPal's documented behaviour), whatever the repeated body says. Failed calls are not
 *   recorded, so a retry runs again.
 * - Errors in PayPal's shape (name, message, debug_id, details[].issue/description, links).
 * - An approval page without JavaScript: Approve, Approve with a card that will be declined, Pay by
 *   eCheck (the capture is PENDING until `completePendingCapture`/`denyPendingCapture`), Cancel.
 * - Webhooks POSTed to the configured URL with PayPal's transmission headers, signed SHA256withRSA
 *   over `<transmission id>|<time>|<webhook id>|<crc32(raw body)>` with a key whose self-signed
 *   certificate is served at PAYPAL-CERT-URL; and `POST /v1/notifications/verify-webhook-signature`.
 *
 * Webhook verification for PGB's connector: the certificate check, done by PGB on the raw bytes.
 * Reasons: the signature covers the CRC32 of the exact body PayPal sent, and checking those bytes
 * is exact, whereas the verify call makes PayPal re-serialise the event PGB hands back, which fails
 * on any difference in serialisation; it needs no token and no PayPal round trip per event, so
 * webhooks are stored even while PayPal's API throttles or is down (PGB re-reads the order before
 * acting in any case). The certificate is fetched only from an allow-listed PayPal host and cached
 * per URL; the list is configurable so tests can point it at this simulator (the check itself is
 * verifyPayPalTransmission in src/connectors/paypal/webhook-transformers.ts). The verify endpoint
 * is here too, answering as PayPal does, so either method can be tested against the same events.
 *
 * Not part of the product: it lives in the test tree and holds all state in memory.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { approvalPage, closedPage } from "./page.ts";
import { approveHref, minimalOrder, refundLinks, renderCapture, renderOrder, renderRefund } from "./render.ts";
import {
  formatAmount,
  paypalError,
  paypalId,
  readMoney,
  type Amount,
  type Answer,
  type ErrorDetail,
  type Funding,
  type SimCapture,
  type SimOrder,
  type SimRefund,
} from "./model.ts";
import { makeSigningIdentity, paypalSignedMessage, signMessage, verifyMessage, type SigningIdentity } from "./signing.ts";

export type PayPalEventType =
  | "CHECKOUT.ORDER.APPROVED"
  | "PAYMENT.CAPTURE.COMPLETED"
  | "PAYMENT.CAPTURE.PENDING"
  | "PAYMENT.CAPTURE.DENIED"
  | "PAYMENT.CAPTURE.REFUNDED"
  | "PAYMENT.CAPTURE.REVERSED";

export interface SimEvent {
  id: string;
  event_version: "1.0";
  create_time: string;
  resource_type: "checkout-order" | "capture" | "refund";
  resource_version: "2.0";
  event_type: PayPalEventType;
  summary: string;
  resource: Record<string, unknown>;
  links: Array<{ href: string; rel: string; method: string }>;
}

export interface WebhookDelivery {
  eventId: string;
  type: PayPalEventType;
  /** HTTP status the receiver answered, "dropped" when withheld, "error" on a network failure. */
  outcome: number | "dropped" | "error";
  body: string;
  headers: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  requestId: string | undefined;
  status: number | "no answer";
  replayed: boolean;
}

export interface PayPalSimulatorOptions {
  clientId?: string;
  clientSecret?: string;
  /** Seconds a token lives (PayPal: 32400). */
  tokenTtlSeconds?: number;
}

interface Fault {
  /** "METHOD /path" prefix the fault applies to ("" = any API call). */
  on: string;
  /** An error answer, or "timeout": the call runs and is recorded, then the connection is cut unanswered. */
  kind: { status: number } | "timeout";
}

interface Handled {
  answer: Answer;
  /** For a successful POST: how to answer a repeat of the same PayPal-Request-Id. */
  replay?: () => Answer;
}

const ORDER_ROUTE = /^\/v2\/checkout\/orders\/([A-Z0-9]+)$/;
const CAPTURE_ORDER_ROUTE = /^\/v2\/checkout\/orders\/([A-Z0-9]+)\/capture$/;
const CAPTURE_ROUTE = /^\/v2\/payments\/captures\/([A-Z0-9]+)$/;
const REFUND_CAPTURE_ROUTE = /^\/v2\/payments\/captures\/([A-Z0-9]+)\/refund$/;
const REFUND_ROUTE = /^\/v2\/payments\/refunds\/([A-Z0-9]+)$/;
const CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";
const MAX_BODY = 64 * 1024;

export class PayPalSimulator {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly orders = new Map<string, SimOrder>();
  readonly captures = new Map<string, SimCapture>();
  readonly refunds = new Map<string, SimRefund>();
  readonly events: SimEvent[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  readonly requests: RecordedRequest[] = [];
  /** The webhook's id as PayPal shows it in the dashboard; part of every signed message. */
  readonly webhookId = paypalId();

  #server: http.Server;
  #baseUrl = "";
  #tokenTtl: number;
  #tokens = new Map<string, number>();
  #clockOffsetMs = 0;
  #idempotency = new Map<string, () => Answer>();
  #faults: Fault[] = [];
  #refundPlans: Array<"complete" | "pend"> = [];
  #webhookUrl: string | null = null;
  #webhookPlans: Array<"drop" | "duplicate"> = [];
  #inFlight = new Set<Promise<void>>();
  #signing: SigningIdentity = makeSigningIdentity();

  private constructor(options: PayPalSimulatorOptions) {
    this.clientId = options.clientId ?? `A${paypalId()}${paypalId()}`;
    this.clientSecret = options.clientSecret ?? `E${paypalId()}${paypalId()}`;
    this.#tokenTtl = options.tokenTtlSeconds ?? 32_400;
    this.#server = http.createServer((request, response) => {
      void this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent)
          this.#send(response, paypalError(500, [{ issue: "INTERNAL_SERVICE_ERROR", description: `simulator fault: ${String(error)}` }]));
      });
    });
  }

  static async start(options: PayPalSimulatorOptions = {}): Promise<PayPalSimulator> {
    const simulator = new PayPalSimulator(options);
    await new Promise<void>((resolve) => simulator.#server.listen(0, "127.0.0.1", resolve));
    simulator.#baseUrl = `http://127.0.0.1:${(simulator.#server.address() as AddressInfo).port}`;
    return simulator;
  }

  /** e.g. http://127.0.0.1:43121: the connector's API base. */
  get url(): string {
    return this.#baseUrl;
  }

  /** What PAYPAL-CERT-URL names: the simulator's signing certificate. */
  get certUrl(): string {
    return `${this.#baseUrl}${CERT_PATH}`;
  }

  get certificatePem(): string {
    return this.#signing.certificatePem;
  }

  async close(): Promise<void> {
    await this.waitForWebhooks();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------
  // Controls for tests.

  /** Where webhooks go (the connector's per-tenant path). */
  configureWebhook(url: string): void {
    this.#webhookUrl = url;
  }

  /** Moves the simulator's clock forward: tokens past their expiry answer 401 invalid_token. */
  advanceClock(seconds: number): void {
    this.#clockOffsetMs += seconds * 1000;
  }

  /** The next API call matching `on` ("METHOD /path" prefix) answers `status` in PayPal's shape (429, 500, 503…). */
  failNext(status: number, on = ""): void {
    this.#faults.push({ on, kind: { status } });
  }

  /** The next call matching `on` is carried out and recorded, then the connection is cut with no answer. */
  timeOutNext(on: string): void {
    this.#faults.push({ on, kind: "timeout" });
  }

  /** How the next refund settles: "complete" (default) or "pend" (PENDING, settled by completeRefund / failRefund). */
  planRefund(plan: "complete" | "pend"): void {
    this.#refundPlans.push(plan);
  }

  /** The next webhook is withheld, or sent twice. */
  planWebhook(plan: "drop" | "duplicate"): void {
    this.#webhookPlans.push(plan);
  }

  /** The buyer's choice on the approval page, without the page. */
  approve(orderId: string, funding: Funding = "balance"): void {
    const order = this.#order(orderId);
    if (order.status !== "CREATED" && order.status !== "PAYER_ACTION_REQUIRED" && order.status !== "APPROVED")
      throw new Error(`order ${orderId} is ${order.status}`);
    order.status = "APPROVED";
    order.funding = funding;
    order.payerId = paypalId().slice(0, 13);
    order.updateTime = this.#isoNow();
    this.#emit("CHECKOUT.ORDER.APPROVED", "checkout-order", `An order has been approved by buyer`, this.#renderOrder(order));
  }

  /** An eCheck clears: the PENDING capture completes. */
  completePendingCapture(captureId: string): void {
    this.#settleCapture(captureId, "COMPLETED");
  }

  /** An eCheck bounces or review fails: the PENDING capture is DECLINED. */
  denyPendingCapture(captureId: string): void {
    this.#settleCapture(captureId, "DECLINED");
  }

  /** A dispute reverses `amount` (default all that is not refunded) of a completed capture. */
  reverseCapture(captureId: string, amountMinor?: bigint): SimRefund {
    const capture = this.#capture(captureId);
    const left = capture.amount.minor - this.#refundedMinor(capture);
    const minor = amountMinor ?? left;
    if (minor <= 0n || minor > left) throw new Error(`cannot reverse ${minor} of ${captureId}`);
    const refund = this.#newRefund(capture, { minor, currency: capture.amount.currency }, "COMPLETED", { reversal: true });
    this.#updateCaptureAfterRefund(capture);
    this.#emit(
      "PAYMENT.CAPTURE.REVERSED",
      "refund",
      `A ${formatAmount(refund.amount).value} ${refund.amount.currency} capture payment was reversed`,
      this.#renderRefund(refund),
    );
    return refund;
  }

  completeRefund(refundId: string): void {
    const refund = this.#pendingRefund(refundId);
    refund.status = "COMPLETED";
    delete refund.reason;
    refund.updateTime = this.#isoNow();
    this.#updateCaptureAfterRefund(this.#capture(refund.captureId));
    this.#emit(
      "PAYMENT.CAPTURE.REFUNDED",
      "refund",
      `A ${formatAmount(refund.amount).value} ${refund.amount.currency} capture payment was refunded`,
      this.#renderRefund(refund),
    );
  }

  /** A pending refund fails: the money stays with the merchant and the capture may be refunded again. */
  failRefund(refundId: string): void {
    const refund = this.#pendingRefund(refundId);
    refund.status = "FAILED";
    refund.updateTime = this.#isoNow();
    this.#updateCaptureAfterRefund(this.#capture(refund.captureId));
  }

  /** The transmission headers PayPal sends with `body`, signed for `webhookId` (default this simulator's). */
  signedHeaders(body: string, webhookId = this.webhookId): Record<string, string> {
    const transmissionId = randomUUID();
    const transmissionTime = this.#isoNow();
    return {
      "content-type": "application/json",
      "paypal-transmission-id": transmissionId,
      "paypal-transmission-time": transmissionTime,
      "paypal-transmission-sig": signMessage(paypalSignedMessage(transmissionId, transmissionTime, webhookId, body), this.#signing.privateKey),
      "paypal-cert-url": this.certUrl,
      "paypal-auth-algo": "SHA256withRSA",
      "correlation-id": paypalId().slice(0, 13).toLowerCase(),
    };
  }

  /** Sends an event again, as the dashboard's Resend does (a new transmission of the same event). */
  resend(eventId: string): void {
    const event = this.events.find((e) => e.id === eventId);
    if (!event) throw new Error(`no event ${eventId}`);
    this.#deliver(event);
  }

  async waitForWebhooks(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP.

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", this.#baseUrl);
    const method = request.method ?? "GET";
    const raw = await readBody(request);
    if (raw === null) return this.#send(response, paypalError(413));

    if (url.pathname === "/checkoutnow") return this.#approvalPage(method, url, raw, response);
    if (method === "GET" && url.pathname === CERT_PATH) {
      response.writeHead(200, { "content-type": "application/x-pem-file" });
      response.end(this.#signing.certificatePem);
      return;
    }

    const requestId = method === "POST" ? headerValue(request.headers["paypal-request-id"]) : undefined;
    const record = (status: number | "no answer", replayed: boolean) => this.requests.push({ method, path: url.pathname, requestId, status, replayed });
    const callName = `${method} ${url.pathname}`;

    if (method === "POST" && url.pathname === "/v1/oauth2/token") {
      const answer = this.#token(request.headers.authorization, raw);
      record(answer.status, false);
      return this.#send(response, answer);
    }

    const auth = this.#authenticate(request.headers.authorization);
    if (auth) {
      record(auth.status, false);
      return this.#send(response, auth);
    }

    const faultIndex = this.#faults.findIndex((f) => callName.startsWith(f.on));
    const fault = faultIndex >= 0 ? this.#faults.splice(faultIndex, 1)[0]! : undefined;
    if (fault && fault.kind !== "timeout") {
      record(fault.kind.status, false);
      const answer = paypalError(fault.kind.status);
      if (fault.kind.status === 429) answer.headers = { ...answer.headers, "retry-after": "1" };
      return this.#send(response, answer);
    }

    const idemKey = requestId === undefined ? undefined : `${callName} ${requestId}`;
    const replay = idemKey === undefined ? undefined : this.#idempotency.get(idemKey);
    if (replay) {
      const answer = replay();
      record(answer.status, true);
      return this.#send(response, answer);
    }

    let body: unknown = {};
    if (method === "POST" && raw.length > 0) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        const answer = paypalError(400, [{ issue: "MALFORMED_REQUEST_JSON", description: "The request JSON is not well formed." }]);
        record(answer.status, false);
        return this.#send(response, answer);
      }
    }

    const handled = this.#route(method, url.pathname, body, headerValue(request.headers.prefer));
    if (idemKey !== undefined && handled.replay) this.#idempotency.set(idemKey, handled.replay);
    if (fault?.kind === "timeout") {
      record("no answer", false);
      response.socket?.destroy();
      return;
    }
    record(handled.answer.status, false);
    this.#send(response, handled.answer);
  }

  #route(method: string, path: string, body: unknown, prefer: string | undefined): Handled {
    const representation = prefer?.includes("return=representation") ?? false;
    let m: RegExpExecArray | null;
    if (method === "POST" && path === "/v2/checkout/orders") return this.#createOrder(body, representation);
    if (method === "GET" && (m = ORDER_ROUTE.exec(path))) return this.#found(this.orders.get(m[1]!), (o) => this.#renderOrder(o), "orders/v2");
    if (method === "POST" && (m = CAPTURE_ORDER_ROUTE.exec(path))) return this.#captureOrder(m[1]!);
    if (method === "GET" && (m = CAPTURE_ROUTE.exec(path))) return this.#found(this.captures.get(m[1]!), (c) => this.#renderCapture(c), "payments/v2");
    if (method === "POST" && (m = REFUND_CAPTURE_ROUTE.exec(path))) return this.#refundCapture(m[1]!, body, representation);
    if (method === "GET" && (m = REFUND_ROUTE.exec(path))) return this.#found(this.refunds.get(m[1]!), (r) => this.#renderRefund(r), "payments/v2");
    if (method === "POST" && path === "/v1/notifications/verify-webhook-signature") return { answer: this.#verifySignature(body) };
    return { answer: paypalError(404) };
  }

  #found<T>(item: T | undefined, render: (item: T) => unknown, api: string): Handled {
    if (!item)
      return {
        answer: paypalError(
          404,
          [{ issue: "INVALID_RESOURCE_ID", description: "Specified resource ID does not exist. Please check the resource ID and try again." }],
          api,
        ),
      };
    return { answer: { status: 200, body: render(item) } };
  }

  #token(authorization: string | undefined, raw: Buffer): Answer {
    const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString("base64")}`;
    if (authorization !== expected) return { status: 401, body: { error: "invalid_client", error_description: "Client Authentication failed" } };
    if (new URLSearchParams(raw.toString("utf8")).get("grant_type") !== "client_credentials") {
      return { status: 400, body: { error: "unsupported_grant_type", error_description: "Grant Type is NULL" } };
    }
    const token = `A21AA${paypalId()}${paypalId()}${paypalId()}`;
    this.#tokens.set(token, this.#nowMs() + this.#tokenTtl * 1000);
    return {
      status: 200,
      body: {
        scope:
          "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/applications/webhooks",
        access_token: token,
        token_type: "Bearer",
        app_id: `APP-${paypalId()}`,
        expires_in: this.#tokenTtl,
        nonce: `${this.#isoNow()}${paypalId()}`,
      },
    };
  }

  #authenticate(authorization: string | undefined): Answer | null {
    if (authorization === undefined || !authorization.startsWith("Bearer ")) return paypalError(401);
    const expiresAt = this.#tokens.get(authorization.slice("Bearer ".length));
    if (expiresAt === undefined) return { status: 401, body: { error: "invalid_token", error_description: "Access Token not found in cache" } };
    if (expiresAt <= this.#nowMs()) return { status: 401, body: { error: "invalid_token", error_description: "The token passed in was expired" } };
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // Orders.

  #createOrder(input: unknown, representation: boolean): Handled {
    const body = asRecord(input);
    const invalid = (status: number, detail: ErrorDetail): Handled => ({ answer: paypalError(status, [{ location: "body", ...detail }]) });
    if (body.intent !== "CAPTURE") {
      return invalid(
        body.intent === undefined ? 400 : 422,
        body.intent === undefined
          ? { issue: "MISSING_REQUIRED_PARAMETER", description: "A required field / parameter is missing.", field: "/intent" }
          : { issue: "INVALID_PARAMETER_VALUE", description: "The simulator takes intent CAPTURE only.", field: "/intent", value: String(body.intent) },
      );
    }
    const units = body.purchase_units;
    if (!Array.isArray(units) || units.length !== 1) {
      return invalid(400, { issue: "MISSING_REQUIRED_PARAMETER", description: "The simulator takes exactly one purchase unit.", field: "/purchase_units" });
    }
    const unit = asRecord(units[0]);
    const field = "/purchase_units/@reference_id=='default'/amount";
    const read = readMoney(unit.amount, field);
    if (!read.ok) return invalid(read.status, read.detail);
    const breakdown = asRecord(asRecord(unit.amount).breakdown);
    if (Object.keys(breakdown).length > 0) {
      let sum = 0n;
      for (const part of ["item_total", "tax_total", "shipping", "handling", "insurance"] as const) {
        if (breakdown[part] === undefined) continue;
        const partRead = readMoney(breakdown[part], `${field}/breakdown/${part}`);
        if (!partRead.ok) return invalid(partRead.status, partRead.detail);
        if (partRead.amount.currency !== read.amount.currency)
          return invalid(422, {
            issue: "CURRENCY_MISMATCH",
            description: "Currency code should be the same for all amounts.",
            field: `${field}/breakdown/${part}/currency_code`,
          });
        sum += partRead.amount.minor;
      }
      if (sum !== read.amount.minor)
        return invalid(422, {
          issue: "AMOUNT_MISMATCH",
          description: "Should equal item_total + tax_total + shipping + handling + insurance - shipping_discount - discount.",
          field: `${field}/value`,
          value: formatAmount(read.amount).value,
        });
    }
    const text = (key: string, max: number): string | undefined | Handled => {
      const value = unit[key];
      if (value === undefined) return undefined;
      if (typeof value !== "string" || value.length === 0 || value.length > max) {
        return invalid(400, {
          issue: "INVALID_STRING_LENGTH",
          description: `The value of a field is either too short or too long.`,
          field: `/purchase_units/@reference_id=='default'/${key}`,
        });
      }
      return value;
    };
    const customId = text("custom_id", 127);
    const invoiceId = text("invoice_id", 127);
    const description = text("description", 127);
    for (const value of [customId, invoiceId, description]) if (typeof value === "object") return value;
    if (
      typeof invoiceId === "string" &&
      [...this.captures.values()].some((c) => c.invoiceId === invoiceId && c.status !== "DECLINED" && c.status !== "FAILED")
    ) {
      return invalid(422, {
        issue: "DUPLICATE_INVOICE_ID",
        description:
          "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice Id be unique for each transaction.",
        field: "/purchase_units/@reference_id=='default'/invoice_id",
        value: invoiceId,
      });
    }

    const experience = asRecord(asRecord(asRecord(body.payment_source).paypal).experience_context);
    const legacy = asRecord(body.application_context);
    const usesExperienceContext = Object.keys(experience).length > 0;
    const context = usesExperienceContext ? experience : legacy;
    const contextField = usesExperienceContext ? "/payment_source/paypal/experience_context" : "/application_context";
    for (const key of ["return_url", "cancel_url"] as const) {
      const value = context[key];
      if (value !== undefined && (typeof value !== "string" || !URL.canParse(value))) {
        return invalid(400, {
          issue: "INVALID_PARAMETER_SYNTAX",
          description: "The value of a field does not conform to the expected format.",
          field: `${contextField}/${key}`,
        });
      }
    }
    const now = this.#isoNow();
    const order: SimOrder = {
      id: paypalId(),
      status: usesExperienceContext ? "PAYER_ACTION_REQUIRED" : "CREATED",
      amount: read.amount,
      referenceId: typeof unit.reference_id === "string" ? unit.reference_id : "default",
      usesExperienceContext,
      createTime: now,
      updateTime: now,
      ...(typeof customId === "string" ? { customId } : {}),
      ...(typeof invoiceId === "string" ? { invoiceId } : {}),
      ...(typeof description === "string" ? { description } : {}),
      ...(typeof context.return_url === "string" ? { returnUrl: context.return_url } : {}),
      ...(typeof context.cancel_url === "string" ? { cancelUrl: context.cancel_url } : {}),
    };
    this.orders.set(order.id, order);
    const render = () => (representation ? this.#renderOrder(order) : minimalOrder(this.#baseUrl, order));
    return { answer: { status: 201, body: render() }, replay: () => ({ status: 200, body: render() }) };
  }

  #captureOrder(orderId: string): Handled {
    const order = this.orders.get(orderId);
    if (!order) return this.#found(undefined, () => null, "orders/v2");
    const refuse = (issue: string, description: string, links: Array<{ href: string; rel: string; method: string }> = []): Handled => {
      const answer = paypalError(422, [{ issue, description }]);
      if (links.length > 0) (answer.body as { links: unknown[] }).links.push(...links);
      return { answer };
    };
    if (order.captureId !== undefined)
      return refuse("ORDER_ALREADY_CAPTURED", "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.");
    if (order.status !== "APPROVED") {
      return refuse(
        "ORDER_NOT_APPROVED",
        "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
      );
    }
    if (order.funding === "decline") {
      // PayPal: restart the payment by sending the buyer back to the approval link, where another funding source can be chosen.
      order.status = order.usesExperienceContext ? "PAYER_ACTION_REQUIRED" : "CREATED";
      delete order.funding;
      order.updateTime = this.#isoNow();
      return refuse("INSTRUMENT_DECLINED", "The instrument presented  was either declined by the processor or bank, or it can't be used for this payment.", [
        { href: approveHref(this.#baseUrl, order), rel: "redirect", method: "GET" },
      ]);
    }
    if (
      order.invoiceId !== undefined &&
      [...this.captures.values()].some((c) => c.invoiceId === order.invoiceId && c.status !== "DECLINED" && c.status !== "FAILED")
    ) {
      return refuse(
        "DUPLICATE_INVOICE_ID",
        "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice Id be unique for each transaction.",
      );
    }
    const now = this.#isoNow();
    const capture: SimCapture = {
      id: paypalId(),
      orderId: order.id,
      status: order.funding === "echeck" ? "PENDING" : "COMPLETED",
      amount: order.amount,
      createTime: now,
      updateTime: now,
      ...(order.funding === "echeck" ? { reason: "ECHECK" } : {}),
      ...(order.invoiceId === undefined ? {} : { invoiceId: order.invoiceId }),
      ...(order.customId === undefined ? {} : { customId: order.customId }),
    };
    this.captures.set(capture.id, capture);
    order.captureId = capture.id;
    order.status = "COMPLETED";
    order.updateTime = now;
    const value = formatAmount(capture.amount);
    if (capture.status === "PENDING")
      this.#emit("PAYMENT.CAPTURE.PENDING", "capture", `Payment pending for ${value.value} ${value.currency_code}`, this.#renderCapture(capture));
    else this.#emit("PAYMENT.CAPTURE.COMPLETED", "capture", `Payment completed for ${value.value} ${value.currency_code}`, this.#renderCapture(capture));
    return { answer: { status: 201, body: this.#renderOrder(order) }, replay: () => ({ status: 200, body: this.#renderOrder(order) }) };
  }

  // -------------------------------------------------------------------------------------------
  // Refunds.

  #refundCapture(captureId: string, input: unknown, representation: boolean): Handled {
    const capture = this.captures.get(captureId);
    if (!capture) return this.#found(undefined, () => null, "payments/v2");
    const body = asRecord(input);
    const refuse = (issue: string, description: string, status = 422): Handled => ({ answer: paypalError(status, [{ issue, description }], "payments/v2") });
    if (capture.status === "PENDING")
      return refuse(
        "PENDING_CAPTURE",
        "Cannot initiate a refund as the capture is pending. Capture is typically pending when the payer has funded the transaction using e-check or bank account.",
      );
    if (capture.status === "DECLINED" || capture.status === "FAILED") return refuse("REFUND_NOT_ALLOWED", "Refund cannot be issued for this transaction.");
    if ([...this.refunds.values()].some((r) => r.captureId === capture.id && r.reversal)) {
      return refuse(
        "REFUND_NOT_PERMITTED_DUE_TO_CHARGEBACK",
        "Refunds not allowed on this capture due to a chargeback on the card or bank. Please contact the payee to resolve the chargeback.",
      );
    }
    const left = capture.amount.minor - this.#refundedMinor(capture);
    if (left <= 0n) return refuse("CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded");
    let amount: Amount = { minor: left, currency: capture.amount.currency };
    if (body.amount !== undefined) {
      const read = readMoney(body.amount, "/amount");
      if (!read.ok) return { answer: paypalError(read.status, [read.detail], "payments/v2") };
      if (read.amount.currency !== capture.amount.currency)
        return refuse("REFUND_CAPTURE_CURRENCY_MISMATCH", "Refund must be in the same currency as the capture.");
      if (read.amount.minor > left)
        return refuse("REFUND_AMOUNT_EXCEEDED", "The refund amount must be less than or equal to the capture amount that has not yet been refunded.");
      amount = read.amount;
    }
    const pend = this.#refundPlans.shift() === "pend";
    const refund = this.#newRefund(capture, amount, pend ? "PENDING" : "COMPLETED", {
      reversal: false,
      ...(typeof body.invoice_id === "string" ? { invoiceId: body.invoice_id } : {}),
      ...(typeof body.custom_id === "string" ? { customId: body.custom_id } : {}),
      ...(typeof body.note_to_payer === "string" ? { noteToPayer: body.note_to_payer } : {}),
    });
    if (pend) refund.reason = "ECHECK";
    this.#updateCaptureAfterRefund(capture);
    if (!pend)
      this.#emit(
        "PAYMENT.CAPTURE.REFUNDED",
        "refund",
        `A ${formatAmount(amount).value} ${amount.currency} capture payment was refunded`,
        this.#renderRefund(refund),
      );
    const render = () => (representation ? this.#renderRefund(refund) : { id: refund.id, status: refund.status, links: refundLinks(this.#baseUrl, refund) });
    return { answer: { status: 201, body: render() }, replay: () => ({ status: 200, body: render() }) };
  }

  #newRefund(capture: SimCapture, amount: Amount, status: SimRefund["status"], extra: Partial<SimRefund> & { reversal: boolean }): SimRefund {
    const now = this.#isoNow();
    const refund: SimRefund = { id: paypalId(), captureId: capture.id, status, amount, createTime: now, updateTime: now, ...extra };
    this.refunds.set(refund.id, refund);
    return refund;
  }

  /** Refunds and reversals that hold money: completed, and pending ones (reserved until they settle). */
  #refundedMinor(capture: SimCapture, completedOnly = false): bigint {
    let sum = 0n;
    for (const r of this.refunds.values()) {
      if (r.captureId === capture.id && (r.status === "COMPLETED" || (!completedOnly && r.status === "PENDING"))) sum += r.amount.minor;
    }
    return sum;
  }

  #updateCaptureAfterRefund(capture: SimCapture): void {
    const refunded = this.#refundedMinor(capture, true);
    capture.status = refunded === 0n ? "COMPLETED" : refunded >= capture.amount.minor ? "REFUNDED" : "PARTIALLY_REFUNDED";
    capture.updateTime = this.#isoNow();
  }

  #settleCapture(captureId: string, status: "COMPLETED" | "DECLINED"): void {
    const capture = this.#capture(captureId);
    if (capture.status !== "PENDING") throw new Error(`capture ${captureId} is ${capture.status}, not PENDING`);
    capture.status = status;
    delete capture.reason;
    capture.updateTime = this.#isoNow();
    const value = formatAmount(capture.amount);
    if (status === "COMPLETED")
      this.#emit("PAYMENT.CAPTURE.COMPLETED", "capture", `Payment completed for ${value.value} ${value.currency_code}`, this.#renderCapture(capture));
    else this.#emit("PAYMENT.CAPTURE.DENIED", "capture", `Payment denied for ${value.value} ${value.currency_code}`, this.#renderCapture(capture));
  }

  // -------------------------------------------------------------------------------------------
  // Webhooks.

  #verifySignature(input: unknown): Answer {
    const body = asRecord(input);
    const required = ["auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id"] as const;
    const missing = required.filter((key) => typeof body[key] !== "string");
    if (missing.length > 0 || typeof body.webhook_event !== "object" || body.webhook_event === null) {
      return paypalError(
        400,
        [...missing, ...(typeof body.webhook_event === "object" && body.webhook_event !== null ? [] : ["webhook_event"])].map((key) => ({
          issue: "MISSING_REQUIRED_PARAMETER",
          description: "A required field / parameter is missing.",
          field: key,
          location: "body" as const,
        })),
        "webhooks/v1",
      );
    }
    const text = (key: (typeof required)[number]) => body[key] as string;
    // PayPal checks the event it is handed, re-serialised; the simulator sends JSON.stringify(event), so that is the same text.
    const message = paypalSignedMessage(text("transmission_id"), text("transmission_time"), text("webhook_id"), JSON.stringify(body.webhook_event));
    let ok = text("webhook_id") === this.webhookId && text("auth_algo") === "SHA256withRSA" && text("cert_url") === this.certUrl;
    try {
      ok = ok && verifyMessage(message, text("transmission_sig"), this.#signing.certificatePem);
    } catch {
      ok = false;
    }
    return { status: 200, body: { verification_status: ok ? "SUCCESS" : "FAILURE" } };
  }

  #emit(type: PayPalEventType, resourceType: SimEvent["resource_type"], summary: string, resource: Record<string, unknown>): void {
    const id = `WH-${paypalId()}-${paypalId()}`;
    const event: SimEvent = {
      id,
      event_version: "1.0",
      create_time: this.#isoNow(),
      resource_type: resourceType,
      resource_version: "2.0",
      event_type: type,
      summary,
      resource,
      links: [
        { href: `${this.#baseUrl}/v1/notifications/webhooks-events/${id}`, rel: "self", method: "GET" },
        { href: `${this.#baseUrl}/v1/notifications/webhooks-events/${id}/resend`, rel: "resend", method: "POST" },
      ],
    };
    this.events.push(event);
    if (this.#webhookUrl === null) return;
    const plan = this.#webhookPlans.shift();
    if (plan === "drop") {
      this.deliveries.push({ eventId: id, type, outcome: "dropped", body: JSON.stringify(event), headers: {} });
      return;
    }
    this.#deliver(event);
    if (plan === "duplicate") this.#deliver(event);
  }

  #deliver(event: SimEvent): void {
    const url = this.#webhookUrl;
    if (url === null) return;
    const body = JSON.stringify(event);
    const headers = this.signedHeaders(body);
    const delivery: WebhookDelivery = { eventId: event.id, type: event.event_type, outcome: "error", body, headers };
    this.deliveries.push(delivery);
    const sending = fetch(url, { method: "POST", headers: { ...headers, "user-agent": "PayPal/AUHD-214.0-58292619" }, body })
      .then(async (response) => {
        delivery.outcome = response.status;
        await response.arrayBuffer();
      })
      .catch(() => {
        delivery.outcome = "error";
      })
      .finally(() => this.#inFlight.delete(sending));
    this.#inFlight.add(sending);
  }

  // -------------------------------------------------------------------------------------------
  // Approval page.

  #approvalPage(method: string, url: URL, raw: Buffer, response: http.ServerResponse): void {
    const order = this.orders.get(url.searchParams.get("token") ?? "");
    const html = (status: number, text: string) => {
      response.writeHead(status, { "content-type": "text/html; charset=utf-8" });
      response.end(text);
    };
    if (!order) return html(404, closedPage("This checkout session is not valid."));
    const open = order.status === "CREATED" || order.status === "PAYER_ACTION_REQUIRED" || order.status === "APPROVED";
    if (!open) return html(409, closedPage("This order can no longer be paid."));
    if (method === "GET") return html(200, approvalPage(order, formatAmount(order.amount)));
    if (method !== "POST") return html(405, closedPage("Method not allowed."));
    const choice = new URLSearchParams(raw.toString("utf8")).get("choice");
    if (choice === "cancel") {
      if (!order.cancelUrl) return html(200, closedPage("You cancelled. You can close this window."));
      return this.#redirect(response, withQuery(order.cancelUrl, { token: order.id }));
    }
    const funding: Funding | undefined = choice === "approve" ? "balance" : choice === "decline" ? "decline" : choice === "echeck" ? "echeck" : undefined;
    if (!funding) return html(400, closedPage("Choose how to pay."));
    this.approve(order.id, funding);
    if (!order.returnUrl) return html(200, closedPage("Approved. You can close this window."));
    this.#redirect(response, withQuery(order.returnUrl, { token: order.id, PayerID: order.payerId ?? "" }));
  }

  #redirect(response: http.ServerResponse, location: string): void {
    response.writeHead(303, { location });
    response.end();
  }

  // -------------------------------------------------------------------------------------------
  // Rendering (render.ts), with this simulator's address and records.

  #renderOrder(order: SimOrder): Record<string, unknown> {
    const refunds = [...this.refunds.values()].filter((r) => r.captureId === order.captureId);
    return renderOrder(this.#baseUrl, order, order.captureId === undefined ? undefined : this.captures.get(order.captureId), refunds);
  }

  #renderCapture(capture: SimCapture): Record<string, unknown> {
    return renderCapture(this.#baseUrl, capture);
  }

  #renderRefund(refund: SimRefund): Record<string, unknown> {
    return renderRefund(this.#baseUrl, refund);
  }

  // -------------------------------------------------------------------------------------------

  #order(id: string): SimOrder {
    const order = this.orders.get(id);
    if (!order) throw new Error(`no order ${id}`);
    return order;
  }

  #capture(id: string): SimCapture {
    const capture = this.captures.get(id);
    if (!capture) throw new Error(`no capture ${id}`);
    return capture;
  }

  #pendingRefund(id: string): SimRefund {
    const refund = this.refunds.get(id);
    if (refund?.status !== "PENDING") throw new Error(`refund ${id} is not PENDING`);
    return refund;
  }

  #nowMs(): number {
    return Date.now() + this.#clockOffsetMs;
  }

  #isoNow(): string {
    return new Date(this.#nowMs()).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  #send(response: http.ServerResponse, answer: Answer): void {
    response.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
    response.end(JSON.stringify(answer.body));
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function withQuery(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

async function readBody(request: http.IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
