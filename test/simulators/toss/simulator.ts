/**
 * A local Toss Payments for the tests: the v1 payment API (Basic auth with the secret key, JSON,
 * Toss's Payment shape, status values and error codes, Idempotency-Key replay, the 10-minute
 * confirm deadline), a stand-in for the v2 browser SDK with its own authentication page, and the
 * unsigned PAYMENT_STATUS_CHANGED / DEPOSIT_CALLBACK webhooks.
 *
 * It deliberately shares no code with src/connectors/toss: a wrong belief about Toss written once
 * would otherwise be confirmed by the simulator instead of caught.
 *
 * Controls: authorize() skips the browser; deposit / expireVirtualAccount / failDeposit drive a
 * virtual account; failNext / delayNext inject faults; webhooks can be held, duplicated, reordered,
 * dropped or forged. The clock is injectable (`now`).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { sdkScript } from "./sdk.ts";

export type SimStatus = "READY" | "IN_PROGRESS" | "WAITING_FOR_DEPOSIT" | "DONE" | "CANCELED" | "PARTIAL_CANCELED" | "ABORTED" | "EXPIRED";
export type SimMethod = "CARD" | "VIRTUAL_ACCOUNT" | "TRANSFER" | "MOBILE_PHONE";
export type WebhookEvent = "PAYMENT_STATUS_CHANGED" | "DEPOSIT_CALLBACK";

const METHOD_LABELS_KO: Record<SimMethod, string> = { CARD: "카드", VIRTUAL_ACCOUNT: "가상계좌", TRANSFER: "계좌이체", MOBILE_PHONE: "휴대폰" };
/** Toss: the buyer has 30 minutes to authenticate, then the merchant 10 minutes to confirm. */
const AUTH_WINDOW_MS = 30 * 60_000;
const CONFIRM_WINDOW_MS = 10 * 60_000;

export interface SimCancel {
  transactionKey: string;
  cancelReason: string;
  cancelAmount: number;
  canceledAt: Date;
  refundableAmount: number;
  idempotencyKey: string | null;
  refundReceiveAccount: { bank: string; accountNumber: string; holderName: string } | null;
}

export interface SimPayment {
  paymentKey: string;
  orderId: string;
  orderName: string;
  method: SimMethod;
  status: SimStatus;
  totalAmount: number;
  balanceAmount: number;
  customerName: string;
  requestedAt: Date;
  authenticatedAt: Date | null;
  approvedAt: Date | null;
  lastTransactionKey: string | null;
  cancels: SimCancel[];
  virtualAccount: {
    accountNumber: string;
    bankCode: string;
    dueDate: Date;
    expired: boolean;
    settlementStatus: "INCOMPLETED" | "COMPLETED";
    refundStatus: "NONE" | "PENDING" | "FAILED" | "PARTIAL_FAILED" | "COMPLETED";
    validHours: number;
  } | null;
  secret: string | null;
  failure: { code: string; message: string } | null;
}

export interface WebhookDelivery {
  event: WebhookEvent;
  body: Record<string, unknown>;
  /** HTTP status PGB answered, or undefined while held / on a network error. */
  status?: number;
  error?: string;
}

interface Fault {
  path: string | RegExp | undefined;
  remaining: number;
  kind: "fail" | "delay";
  status?: number;
  code?: string;
  message?: string;
  afterEffect?: boolean;
  delayMs?: number;
}

interface Reply {
  status: number;
  body: unknown;
}

export interface TossSimulatorOptions {
  secretKey: string;
  clientKey: string;
  now?: () => Date;
  /** "ko" answers `method` as Toss's Korean-locale API does ("카드"); "en" as its English docs show. */
  locale?: "ko" | "en";
  /** Real answers sometimes carry `method` as "" or null; the method object (virtualAccount...) still says it. */
  methodAnswer?: "label" | "empty" | "null";
  /**
   * Toss refuses a request on a payment that follows the previous one on it too closely, GET too:
   * 403 FORBIDDEN_CONSECUTIVE_REQUEST. Off (0) unless a test sets the window.
   */
  consecutiveRequestWindowMs?: number;
  /**
   * A deposited virtual account's refund is a bank transfer: "instant" completes it with the cancel;
   * "pending" leaves virtualAccount.refundStatus PENDING until completeRefundTransfer / failRefundTransfer.
   */
  vaRefundTransfer?: "instant" | "pending";
}

export class TossSimulator {
  readonly #server: Server;
  readonly #options: TossSimulatorOptions;
  readonly #payments = new Map<string, SimPayment>();
  readonly #idempotency = new Map<string, { fingerprint: string; reply: Reply }>();
  readonly #faults: Fault[] = [];
  #webhookUrl: string | undefined;
  #webhookEvents: WebhookEvent[] = ["PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK"];
  #depositLayout: "top" | "data" = "top";
  #holdWebhooks = false;
  #dropWebhooks = 0;
  readonly #held: WebhookDelivery[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  /** Where the window sends the browser for each payment, as the SDK call named them. */
  readonly #browserTargets = new Map<string, { successUrl: string; failUrl: string }>();

  /** Everything the API received, in order (no bodies: tests assert on behaviour, not on bytes). */
  readonly requests: Array<{ method: string; path: string; idempotencyKey: string | undefined; status: number; replayed: boolean }> = [];
  /** Confirms that changed a payment (the proof that a retried confirm never confirmed twice). */
  effectiveConfirms = 0;
  /** Cancels that moved money. */
  effectiveCancels = 0;
  readonly webhookDeliveries: WebhookDelivery[] = [];
  url = "";

  private constructor(options: TossSimulatorOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, { code: "FAILED_INTERNAL_SYSTEM_PROCESSING", message: String(error) });
      });
    });
  }

  static async start(options: TossSimulatorOptions): Promise<TossSimulator> {
    const sim = new TossSimulator(options);
    await new Promise<void>((resolve) => sim.#server.listen(0, "127.0.0.1", resolve));
    sim.url = `http://127.0.0.1:${(sim.#server.address() as AddressInfo).port}`;
    return sim;
  }

  async close(): Promise<void> {
    await this.flushWebhooks();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  get sdkScriptUrl(): string {
    return `${this.url}/v2/standard`;
  }

  #now(): Date {
    return this.#options.now?.() ?? new Date();
  }

  // ---------------------------------------------------------------------------------------------
  // Controls

  /** The customer authenticated in Toss's window: an IN_PROGRESS payment waiting for the confirm. */
  authorize(
    orderId: string,
    amount: number,
    method: SimMethod = "CARD",
    options: { orderName?: string; customerName?: string; validHours?: number } = {},
  ): string {
    const payment = this.#createReady(orderId, amount, method, options.orderName ?? "테스트 주문", options.customerName ?? "홍길동", options.validHours);
    payment.status = "IN_PROGRESS";
    payment.authenticatedAt = this.#now();
    return payment.paymentKey;
  }

  payment(paymentKeyOrOrderId: string): SimPayment | undefined {
    return this.#payments.get(paymentKeyOrOrderId) ?? this.#byOrderId(paymentKeyOrOrderId);
  }

  /** The buyer transferred the money into the virtual account. */
  deposit(orderId: string): void {
    const payment = this.#requireVa(orderId, "WAITING_FOR_DEPOSIT");
    payment.status = "DONE";
    payment.approvedAt = this.#now();
    payment.lastTransactionKey = transactionKey();
    payment.virtualAccount!.settlementStatus = "COMPLETED";
    this.#changed(payment);
  }

  /**
   * The deposit window closed unpaid. Toss's resulting status is not documented; `as` picks it
   * (EXPIRED by default), with virtualAccount.expired set in every case.
   */
  expireVirtualAccount(orderId: string, as: "EXPIRED" | "CANCELED" | "WAITING_FOR_DEPOSIT" = "EXPIRED"): void {
    const payment = this.#requireVa(orderId, "WAITING_FOR_DEPOSIT");
    payment.virtualAccount!.expired = true;
    payment.status = as;
    this.#changed(payment);
  }

  /** The bank transfer of a virtual-account refund went through (vaRefundTransfer "pending"). */
  completeRefundTransfer(orderId: string): void {
    this.#refundTransfer(orderId, "COMPLETED");
  }

  /**
   * The bank transfer of a virtual-account refund failed (a closed or wrong account): Toss reports it
   * in virtualAccount.refundStatus, FAILED, or PARTIAL_FAILED after partial cancels.
   */
  failRefundTransfer(orderId: string, as: "FAILED" | "PARTIAL_FAILED" = "FAILED"): void {
    this.#refundTransfer(orderId, as);
  }

  #refundTransfer(orderId: string, to: "COMPLETED" | "FAILED" | "PARTIAL_FAILED"): void {
    const payment = [...this.#payments.values()].find((p) => p.orderId === orderId && p.method === "VIRTUAL_ACCOUNT");
    if (payment === undefined || payment.virtualAccount === null || payment.cancels.length === 0) throw new Error(`no refunded virtual account ${orderId}`);
    payment.virtualAccount.refundStatus = to;
    this.#changed(payment);
  }

  /** A deposit error: Toss takes a DONE virtual account back to WAITING_FOR_DEPOSIT. */
  failDeposit(orderId: string): void {
    const payment = this.#requireVa(orderId, "DONE");
    payment.status = "WAITING_FOR_DEPOSIT";
    payment.approvedAt = null;
    payment.virtualAccount!.settlementStatus = "INCOMPLETED";
    payment.lastTransactionKey = transactionKey();
    this.#changed(payment);
  }

  /**
   * The next `n` API calls (matching `path` if given) answer `status` {code, message}. With
   * `afterEffect` the call does take effect first (the answer is what gets lost).
   */
  failNext(n: number, status: number, code: string, options: { path?: string | RegExp; afterEffect?: boolean; message?: string } = {}): void {
    this.#faults.push({ kind: "fail", remaining: n, status, code, path: options.path, afterEffect: options.afterEffect ?? false, message: options.message });
  }

  /** The next call (matching `path`) takes effect, then answers only after `ms`. */
  delayNext(ms: number, options: { path?: string | RegExp; n?: number } = {}): void {
    this.#faults.push({ kind: "delay", remaining: options.n ?? 1, delayMs: ms, path: options.path });
  }

  /** Toss keeps Idempotency-Keys for 15 days; this is day 16. */
  forgetIdempotencyKeys(): void {
    this.#idempotency.clear();
  }

  configureWebhooks(options: { url: string; events?: WebhookEvent[]; depositCallbackLayout?: "top" | "data"; hold?: boolean }): void {
    this.#webhookUrl = options.url;
    this.#webhookEvents = options.events ?? ["PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK"];
    this.#depositLayout = options.depositCallbackLayout ?? "top";
    this.#holdWebhooks = options.hold ?? false;
  }

  /** Webhooks generated while held, oldest first. */
  get heldWebhooks(): readonly WebhookDelivery[] {
    return this.#held;
  }

  /** Sends the held webhooks: in order or reversed, each once or twice. */
  async releaseWebhooks(options: { order?: "fifo" | "reverse"; duplicate?: boolean } = {}): Promise<void> {
    const batch = this.#held.splice(0);
    if (options.order === "reverse") batch.reverse();
    for (const delivery of batch) {
      await this.#deliver(delivery);
      if (options.duplicate) await this.#deliver({ event: delivery.event, body: delivery.body });
    }
  }

  /** The next `n` webhooks are lost on the way. */
  dropNextWebhooks(n: number): void {
    this.#dropWebhooks += n;
  }

  /** Sends any body to the webhook URL (a forged callback, a resend). */
  async sendWebhook(body: Record<string, unknown>, event: WebhookEvent = "DEPOSIT_CALLBACK"): Promise<WebhookDelivery> {
    const delivery: WebhookDelivery = { event, body };
    await this.#deliver(delivery);
    return delivery;
  }

  async flushWebhooks(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** The webhook bodies Toss would send for this payment's current state (for parser tests). */
  webhookBodies(
    paymentKeyOrOrderId: string,
    layout: "top" | "data" = this.#depositLayout,
  ): { statusChanged: Record<string, unknown>; depositCallback: Record<string, unknown> } {
    const payment = this.payment(paymentKeyOrOrderId);
    if (payment === undefined) throw new Error(`no payment ${paymentKeyOrOrderId}`);
    const createdAt = tossLocalTime(this.#now());
    return { statusChanged: this.#statusChangedBody(payment, createdAt), depositCallback: this.#depositBody(payment, createdAt, layout) };
  }

  // ---------------------------------------------------------------------------------------------
  // State

  #byOrderId(orderId: string): SimPayment | undefined {
    let found: SimPayment | undefined;
    for (const payment of this.#payments.values()) if (payment.orderId === orderId) found = payment;
    return found;
  }

  #requireVa(orderId: string, status: SimStatus): SimPayment {
    const payment = this.payment(orderId);
    if (payment === undefined || payment.method !== "VIRTUAL_ACCOUNT") throw new Error(`no virtual-account payment ${orderId}`);
    if (payment.status !== status) throw new Error(`payment ${orderId} is ${payment.status}, not ${status}`);
    return payment;
  }

  #createReady(orderId: string, amount: number, method: SimMethod, orderName: string, customerName: string, validHours = 168): SimPayment {
    const now = this.#now();
    const payment: SimPayment = {
      paymentKey: `tsim${compactTime(now)}${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`,
      orderId,
      orderName,
      method,
      status: "READY",
      totalAmount: amount,
      balanceAmount: amount,
      customerName,
      requestedAt: now,
      authenticatedAt: null,
      approvedAt: null,
      lastTransactionKey: null,
      cancels: [],
      virtualAccount: null,
      secret: null,
      failure: null,
    };
    if (method === "VIRTUAL_ACCOUNT") {
      payment.virtualAccount = {
        accountNumber: "",
        bankCode: "20",
        dueDate: now,
        expired: false,
        settlementStatus: "INCOMPLETED",
        refundStatus: "NONE",
        validHours,
      };
    }
    this.#payments.set(payment.paymentKey, payment);
    return payment;
  }

  /** Toss expires payments lazily from the clock: READY after 30 min, IN_PROGRESS after 10 min. */
  #tick(payment: SimPayment): void {
    const now = this.#now().getTime();
    if (payment.status === "READY" && now - payment.requestedAt.getTime() > AUTH_WINDOW_MS) {
      payment.status = "EXPIRED";
      this.#changed(payment);
    } else if (payment.status === "IN_PROGRESS" && payment.authenticatedAt !== null && now - payment.authenticatedAt.getTime() > CONFIRM_WINDOW_MS) {
      payment.status = "EXPIRED";
      this.#changed(payment);
    }
  }

  #changed(payment: SimPayment): void {
    if (this.#webhookUrl === undefined) return;
    const createdAt = tossLocalTime(this.#now());
    if (this.#webhookEvents.includes("PAYMENT_STATUS_CHANGED")) {
      this.#emit({ event: "PAYMENT_STATUS_CHANGED", body: this.#statusChangedBody(payment, createdAt) });
    }
    if (this.#webhookEvents.includes("DEPOSIT_CALLBACK") && payment.method === "VIRTUAL_ACCOUNT" && payment.secret !== null) {
      this.#emit({ event: "DEPOSIT_CALLBACK", body: this.#depositBody(payment, createdAt, this.#depositLayout) });
    }
  }

  #statusChangedBody(payment: SimPayment, createdAt: string): Record<string, unknown> {
    return { eventType: "PAYMENT_STATUS_CHANGED", createdAt, data: this.#json(payment) };
  }

  #depositBody(payment: SimPayment, createdAt: string, layout: "top" | "data"): Record<string, unknown> {
    const fields = { createdAt, secret: payment.secret, status: payment.status, transactionKey: payment.lastTransactionKey, orderId: payment.orderId };
    return layout === "top" ? fields : { eventType: "DEPOSIT_CALLBACK", createdAt, data: fields };
  }

  #emit(delivery: WebhookDelivery): void {
    if (this.#dropWebhooks > 0) {
      this.#dropWebhooks--;
      return;
    }
    if (this.#holdWebhooks) {
      this.#held.push(delivery);
      return;
    }
    const sending = this.#deliver(delivery).finally(() => this.#inFlight.delete(sending));
    this.#inFlight.add(sending);
  }

  async #deliver(delivery: WebhookDelivery): Promise<void> {
    this.webhookDeliveries.push(delivery);
    if (this.#webhookUrl === undefined) throw new Error("configureWebhooks first");
    try {
      const response = await fetch(this.#webhookUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(delivery.body),
        signal: AbortSignal.timeout(10_000),
      });
      delivery.status = response.status;
      await response.arrayBuffer();
    } catch (error) {
      delivery.error = String(error);
    }
  }

  /** Toss's Payment object (API version 2022-11-16). */
  #json(p: SimPayment): Record<string, unknown> {
    const vat = Math.round((p.totalAmount - 0) / 11);
    const isVa = p.method === "VIRTUAL_ACCOUNT";
    return {
      mId: "tosspayments",
      lastTransactionKey: p.lastTransactionKey,
      paymentKey: p.paymentKey,
      orderId: p.orderId,
      orderName: p.orderName,
      taxExemptionAmount: 0,
      status: p.status,
      requestedAt: kstIso(p.requestedAt),
      approvedAt: p.approvedAt === null ? null : kstIso(p.approvedAt),
      useEscrow: false,
      cultureExpense: false,
      card:
        p.method === "CARD" && p.status !== "READY" && p.status !== "IN_PROGRESS"
          ? {
              issuerCode: "61",
              acquirerCode: "31",
              number: "43301234****123*",
              installmentPlanMonths: 0,
              isInterestFree: false,
              interestPayer: null,
              approveNo: "00000000",
              useCardPoint: false,
              cardType: "신용",
              ownerType: "개인",
              acquireStatus: "READY",
              amount: p.totalAmount,
            }
          : null,
      virtualAccount:
        isVa && p.virtualAccount !== null && p.virtualAccount.accountNumber !== ""
          ? {
              accountType: "일반",
              accountNumber: p.virtualAccount.accountNumber,
              bankCode: p.virtualAccount.bankCode,
              customerName: p.customerName,
              dueDate: kstIso(p.virtualAccount.dueDate),
              refundStatus: p.virtualAccount.refundStatus,
              expired: p.virtualAccount.expired,
              settlementStatus: p.virtualAccount.settlementStatus,
              refundReceiveAccount: null,
            }
          : null,
      transfer: null,
      mobilePhone: null,
      giftCertificate: null,
      cashReceipt: null,
      cashReceipts: null,
      discount: null,
      cancels:
        p.cancels.length === 0
          ? null
          : p.cancels.map((c) => ({
              transactionKey: c.transactionKey,
              cancelReason: c.cancelReason,
              taxExemptionAmount: 0,
              canceledAt: kstIso(c.canceledAt),
              transferDiscountAmount: 0,
              easyPayDiscountAmount: 0,
              receiptKey: `rk_${c.transactionKey}`,
              cancelAmount: c.cancelAmount,
              taxFreeAmount: 0,
              refundableAmount: c.refundableAmount,
              cancelStatus: "DONE",
              cancelRequestId: null,
            })),
      secret: p.secret,
      type: "NORMAL",
      easyPay: null,
      country: "KR",
      failure: p.failure,
      isPartialCancelable: true,
      receipt: { url: `${this.url}/sim/receipt/${p.paymentKey}` },
      checkout: { url: `${this.url}/sim/checkout-record/${p.paymentKey}` },
      currency: "KRW",
      totalAmount: p.totalAmount,
      balanceAmount: p.balanceAmount,
      suppliedAmount: p.totalAmount - vat,
      vat,
      taxFreeAmount: 0,
      metadata: null,
      method:
        this.#options.methodAnswer === "null"
          ? null
          : this.#options.methodAnswer === "empty"
            ? ""
            : this.#options.locale === "en"
              ? p.method
              : METHOD_LABELS_KO[p.method],
      version: "2022-11-16",
    };
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const path = url.pathname;
    const method = req.method ?? "GET";
    const raw = await readBody(req);

    if (method === "GET" && path === "/v2/standard") {
      res.writeHead(200, { "content-type": "application/javascript; charset=utf-8", "cache-control": "no-store" });
      res.end(sdkScript(this.url));
      return;
    }
    if (path.startsWith("/sim/")) {
      this.#browser(method, path, url, res);
      return;
    }
    if (!path.startsWith("/v1/")) {
      send(res, 404, { code: "NOT_FOUND", message: "존재하지 않는 정보 입니다." });
      return;
    }
    await this.#api(method, path, req, raw, res);
  }

  async #api(method: string, path: string, req: IncomingMessage, raw: string, res: ServerResponse): Promise<void> {
    const key = header(req, "idempotency-key");
    const record = (status: number, replayed = false): void => {
      this.requests.push({ method, path, idempotencyKey: key, status, replayed });
    };
    if (header(req, "authorization") !== `Basic ${Buffer.from(`${this.#options.secretKey}:`).toString("base64")}`) {
      record(401);
      send(res, 401, { code: "UNAUTHORIZED_KEY", message: "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다." });
      return;
    }

    if (this.#throttled(path)) {
      record(403);
      send(res, 403, { code: "FORBIDDEN_CONSECUTIVE_REQUEST", message: "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요." });
      return;
    }

    const fault = this.#takeFault(path);
    if (fault?.kind === "fail" && !fault.afterEffect) {
      record(fault.status!);
      send(res, fault.status!, { code: fault.code, message: fault.message ?? "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요." });
      return;
    }

    let reply: Reply;
    let replayed = false;
    if (method === "POST" && key !== undefined) {
      if (key.length > 300) {
        reply = { status: 400, body: { code: "INVALID_REQUEST", message: "Idempotency-Key는 300자 이하여야 합니다." } };
      } else {
        const fingerprint = createHash("sha256").update(`${path}\n${raw}`).digest("hex");
        const previous = this.#idempotency.get(key);
        if (previous !== undefined) {
          replayed = true;
          reply =
            previous.fingerprint === fingerprint
              ? previous.reply
              : { status: 422, body: { code: "INVALID_REQUEST", message: "같은 멱등키로 다른 요청을 보낼 수 없습니다." } };
        } else {
          reply = this.#route(method, path, raw);
          this.#idempotency.set(key, { fingerprint, reply });
        }
      }
    } else {
      reply = this.#route(method, path, raw);
    }

    if (fault?.kind === "delay") await sleep(fault.delayMs!);
    if (fault?.kind === "fail") {
      record(fault.status!, replayed);
      send(res, fault.status!, { code: fault.code, message: fault.message ?? "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요." });
      return;
    }
    record(reply.status, replayed);
    if (!res.destroyed) send(res, reply.status, reply.body);
  }

  readonly #lastRequestAt = new Map<string, number>();

  /** Requests on one payment (paymentKey or orderId in the path) closer together than the window. */
  #throttled(path: string): boolean {
    const window = this.#options.consecutiveRequestWindowMs ?? 0;
    const subject = /^\/v1\/payments\/(?:orders\/)?([^/]+)/.exec(path)?.[1];
    if (window <= 0 || subject === undefined || subject === "confirm") return false;
    const now = Date.now();
    const last = this.#lastRequestAt.get(subject);
    this.#lastRequestAt.set(subject, now);
    return last !== undefined && now - last < window;
  }

  #takeFault(path: string): Fault | undefined {
    const index = this.#faults.findIndex(
      (f) => f.remaining > 0 && (f.path === undefined || (typeof f.path === "string" ? path.includes(f.path) : f.path.test(path))),
    );
    if (index < 0) return undefined;
    const fault = this.#faults[index]!;
    fault.remaining--;
    if (fault.remaining === 0) this.#faults.splice(index, 1);
    return fault;
  }

  #route(method: string, path: string, raw: string): Reply {
    let m: RegExpExecArray | null;
    if (method === "POST" && path === "/v1/payments/confirm") return this.#confirm(raw);
    if (method === "GET" && (m = /^\/v1\/payments\/orders\/([^/]+)$/.exec(path))) {
      const payment = this.#byOrderId(decodeURIComponent(m[1]!));
      if (payment === undefined) return notFound();
      this.#tick(payment);
      return { status: 200, body: this.#json(payment) };
    }
    if (method === "GET" && (m = /^\/v1\/payments\/([^/]+)$/.exec(path))) {
      const payment = this.#payments.get(decodeURIComponent(m[1]!));
      if (payment === undefined) return notFound();
      this.#tick(payment);
      return { status: 200, body: this.#json(payment) };
    }
    if (method === "POST" && (m = /^\/v1\/payments\/([^/]+)\/cancel$/.exec(path))) return this.#cancel(decodeURIComponent(m[1]!), raw);
    return { status: 404, body: { code: "NOT_FOUND", message: "존재하지 않는 정보 입니다." } };
  }

  #confirm(raw: string): Reply {
    const body = parseObject(raw);
    if (body === undefined || typeof body.paymentKey !== "string" || typeof body.orderId !== "string" || !Number.isInteger(body.amount)) {
      return invalid("paymentKey, orderId, amount는 필수 값입니다.");
    }
    const payment = this.#payments.get(body.paymentKey);
    if (payment === undefined || payment.orderId !== body.orderId) return notFound();
    this.#tick(payment);
    // Past the confirm window Toss no longer has the payment session (it answers 404, not a code of its own).
    if (payment.status === "EXPIRED")
      return { status: 404, body: { code: "NOT_FOUND_PAYMENT_SESSION", message: "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다." } };
    if (payment.status !== "IN_PROGRESS") {
      if (payment.status === "READY") return { status: 403, body: { code: "NOT_AVAILABLE_PAYMENT", message: "결제 인증이 완료되지 않았습니다." } };
      return { status: 400, body: { code: "ALREADY_PROCESSED_PAYMENT", message: "이미 처리된 결제 입니다." } };
    }
    if (body.amount !== payment.totalAmount) return invalid("결제 금액이 일치하지 않습니다.");
    const now = this.#now();
    payment.lastTransactionKey = transactionKey();
    if (payment.method === "VIRTUAL_ACCOUNT") {
      const va = payment.virtualAccount!;
      va.accountNumber = `X${String(randomBytes(6).readUIntBE(0, 6)).padStart(13, "0").slice(0, 13)}`;
      va.dueDate = new Date(now.getTime() + va.validHours * 3_600_000);
      payment.secret = `ps_${randomBytes(15).toString("base64url")}`;
      payment.status = "WAITING_FOR_DEPOSIT";
    } else {
      payment.status = "DONE";
      payment.approvedAt = now;
    }
    this.effectiveConfirms++;
    this.#changed(payment);
    return { status: 200, body: this.#json(payment) };
  }

  #cancel(paymentKey: string, raw: string): Reply {
    const payment = this.#payments.get(paymentKey);
    if (payment === undefined) return notFound();
    this.#tick(payment);
    const body = parseObject(raw);
    if (body === undefined || typeof body.cancelReason !== "string" || body.cancelReason.trim() === "") return invalid("cancelReason은 필수 값입니다.");
    if (body.cancelReason.length > 200) return invalid("cancelReason은 200자 이하여야 합니다.");
    const requested = body.cancelAmount;
    if (requested !== undefined && (!Number.isInteger(requested) || (requested as number) <= 0)) return invalid("cancelAmount가 올바르지 않습니다.");
    if (payment.status === "CANCELED") return { status: 400, body: { code: "ALREADY_CANCELED_PAYMENT", message: "이미 취소된 결제 입니다." } };

    if (payment.status === "WAITING_FOR_DEPOSIT") {
      // An unpaid account is withdrawn whole; no money to send anywhere.
      if (requested !== undefined && requested !== payment.totalAmount) return notCancelableAmount();
      payment.status = "CANCELED";
      payment.lastTransactionKey = transactionKey();
      payment.cancels.push(this.#cancelEntry(payment, payment.totalAmount, body.cancelReason, null));
      payment.balanceAmount = 0;
      this.#changed(payment);
      return { status: 200, body: this.#json(payment) };
    }
    if (payment.status !== "DONE" && payment.status !== "PARTIAL_CANCELED") {
      return { status: 403, body: { code: "NOT_CANCELABLE_PAYMENT", message: "취소 할 수 없는 결제 입니다." } };
    }
    const amount = (requested as number | undefined) ?? payment.balanceAmount;
    if (amount > payment.balanceAmount) return notCancelableAmount();

    let account: SimCancel["refundReceiveAccount"] = null;
    if (payment.method === "VIRTUAL_ACCOUNT") {
      const given = body.refundReceiveAccount as Record<string, unknown> | undefined;
      if (given === undefined || given === null || typeof given !== "object")
        return invalid("가상계좌 결제 취소 시 환불 받을 계좌 정보(refundReceiveAccount)가 필요합니다.");
      const { bank, accountNumber, holderName } = given as { bank?: unknown; accountNumber?: unknown; holderName?: unknown };
      if (typeof bank !== "string" || bank === "" || typeof holderName !== "string" || holderName === "")
        return invalid("환불 계좌의 은행과 예금주는 필수 값입니다.");
      if (typeof accountNumber !== "string" || !/^[0-9]{6,20}$/.test(accountNumber)) {
        return { status: 400, body: { code: "INVALID_REFUND_ACCOUNT_NUMBER", message: "잘못된 환불 계좌번호입니다." } };
      }
      account = { bank, accountNumber, holderName };
    }
    payment.cancels.push(this.#cancelEntry(payment, amount, body.cancelReason, account));
    payment.balanceAmount -= amount;
    payment.status = payment.balanceAmount === 0 ? "CANCELED" : "PARTIAL_CANCELED";
    payment.lastTransactionKey = payment.cancels.at(-1)!.transactionKey;
    if (payment.virtualAccount !== null) payment.virtualAccount.refundStatus = this.#options.vaRefundTransfer === "pending" ? "PENDING" : "COMPLETED";
    this.effectiveCancels++;
    this.#changed(payment);
    return { status: 200, body: this.#json(payment) };
  }

  #cancelEntry(payment: SimPayment, amount: number, reason: string, account: SimCancel["refundReceiveAccount"]): SimCancel {
    return {
      transactionKey: transactionKey(),
      cancelReason: reason,
      cancelAmount: amount,
      // Distinct instants keep cancels ordered even when the injected clock stands still.
      canceledAt: new Date(this.#now().getTime() + payment.cancels.length),
      refundableAmount: payment.balanceAmount - amount,
      idempotencyKey: null,
      refundReceiveAccount: account,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // The payment window the SDK stand-in opens

  #browser(method: string, path: string, url: URL, res: ServerResponse): void {
    if (method === "GET" && path === "/sim/checkout") {
      const q = url.searchParams;
      const successUrl = q.get("successUrl") ?? "";
      const failUrl = q.get("failUrl") ?? "";
      const orderId = q.get("orderId") ?? "";
      if (q.get("clientKey") !== this.#options.clientKey) {
        html(res, 401, `<h1>INVALID_CLIENT_KEY</h1><p>클라이언트 키가 올바르지 않습니다.</p>`);
        return;
      }
      const amount = Number(q.get("amount"));
      const sdkMethod = q.get("method") as SimMethod;
      if (
        !/^[A-Za-z0-9_-]{6,64}$/.test(orderId) ||
        !Number.isInteger(amount) ||
        amount <= 0 ||
        !(sdkMethod in METHOD_LABELS_KO) ||
        !isHttpUrl(successUrl) ||
        !isHttpUrl(failUrl)
      ) {
        html(res, 400, `<h1>INVALID_PARAMETERS</h1>`);
        return;
      }
      let payment = this.#byOrderId(orderId);
      if (payment !== undefined) this.#tick(payment);
      if (payment !== undefined && payment.status !== "READY") {
        redirect(res, withParams(failUrl, { code: "DUPLICATED_ORDER_ID", message: "이미 승인 및 취소가 진행된 중복된 주문번호 입니다.", orderId }));
        return;
      }
      payment ??= this.#createReady(orderId, amount, sdkMethod, q.get("orderName") ?? "", q.get("customerName") || "홍길동");
      this.#browserTargets.set(payment.paymentKey, { successUrl, failUrl });
      const action = (what: string): string => `${this.url}/sim/checkout/${encodeURIComponent(payment.paymentKey)}/${what}`;
      html(
        res,
        200,
        `<h1>토스페이먼츠 (simulator)</h1>
<p id="order">${escape(payment.orderName)}</p><p id="amount">${payment.totalAmount}원</p><p id="method">${METHOD_LABELS_KO[payment.method]}</p>
<form method="post" action="${escape(action("approve"))}"><button id="approve" type="submit">결제 승인 (approve)</button></form>
<form method="post" action="${escape(action("reject"))}"><button id="reject" type="submit">카드사 거절 (reject)</button></form>
<form method="post" action="${escape(action("cancel"))}"><button id="cancel" type="submit">취소 (cancel)</button></form>`,
      );
      return;
    }
    const m = /^\/sim\/checkout\/([^/]+)\/(approve|reject|cancel)$/.exec(path);
    if (method === "POST" && m) {
      const payment = this.#payments.get(decodeURIComponent(m[1]!));
      const target = payment === undefined ? undefined : this.#browserTargets.get(payment.paymentKey);
      if (payment === undefined || target === undefined) {
        html(res, 404, `<h1>NOT_FOUND_PAYMENT</h1>`);
        return;
      }
      this.#tick(payment);
      if (payment.status !== "READY") {
        redirect(
          res,
          withParams(target.failUrl, { code: "PAY_PROCESS_ABORTED", message: "결제 진행 중 승인에 실패하여 결제가 중단되었습니다.", orderId: payment.orderId }),
        );
        return;
      }
      if (m[2] === "approve") {
        payment.status = "IN_PROGRESS";
        payment.authenticatedAt = this.#now();
        redirect(
          res,
          withParams(target.successUrl, {
            paymentType: "NORMAL",
            orderId: payment.orderId,
            paymentKey: payment.paymentKey,
            amount: String(payment.totalAmount),
          }),
        );
      } else if (m[2] === "reject") {
        payment.status = "ABORTED";
        payment.failure = { code: "REJECT_CARD_COMPANY", message: "결제 승인이 거절되었습니다." };
        this.#changed(payment);
        redirect(res, withParams(target.failUrl, { code: "REJECT_CARD_COMPANY", message: "결제 승인이 거절되었습니다.", orderId: payment.orderId }));
      } else {
        redirect(res, withParams(target.failUrl, { code: "PAY_PROCESS_CANCELED", message: "사용자에 의해 결제가 취소되었습니다.", orderId: payment.orderId }));
      }
      return;
    }
    html(res, 404, `<h1>Not found</h1>`);
  }
}

// ---------------------------------------------------------------------------------------------

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>Toss simulator</title></head><body>${body}</body></html>`);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location });
  res.end();
}

function withParams(url: string, params: Record<string, string>): string {
  const target = new URL(url);
  for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
  return target.toString();
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function parseObject(raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function notFound(): Reply {
  return { status: 404, body: { code: "NOT_FOUND_PAYMENT", message: "존재하지 않는 결제 정보 입니다." } };
}

function invalid(message: string): Reply {
  return { status: 400, body: { code: "INVALID_REQUEST", message } };
}

function notCancelableAmount(): Reply {
  return { status: 403, body: { code: "NOT_CANCELABLE_AMOUNT", message: "취소 할 수 없는 금액 입니다." } };
}

function transactionKey(): string {
  return randomBytes(16).toString("hex").toUpperCase();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const KST_OFFSET_MS = 9 * 3_600_000;

/** Toss's API timestamps: ISO-8601 in Korea time with the +09:00 offset. */
export function kstIso(date: Date): string {
  return `${new Date(date.getTime() + KST_OFFSET_MS).toISOString().slice(0, 19)}+09:00`;
}

/** Webhook createdAt: Korea local time, microseconds, no zone. */
export function tossLocalTime(date: Date): string {
  return `${new Date(date.getTime() + KST_OFFSET_MS).toISOString().slice(0, 23)}000`;
}

function compactTime(date: Date): string {
  return new Date(date.getTime() + KST_OFFSET_MS).toISOString().slice(0, 19).replace(/[-T:]/g, "");
}
