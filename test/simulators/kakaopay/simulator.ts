/**
 * A local KakaoPay for the tests: the online single-payment API on the open-api host
 * (`Authorization: SECRET_KEY <key>`, JSON bodies): ready, approve, order lookup and cancel, with
 * KakaoPay's status values, amounts, cancel history (payment_action_details), error shape and the
 * 15-minute life of a tid; plus the buyer's page that stands in for the KakaoTalk approval and
 * sends the browser to approval_url?pg_token=… (or cancel_url / fail_url).
 *
 * KakaoPay sends no webhooks for single payments, so neither does this. It shares no code with
 * src/connectors/kakaopay: a wrong belief about KakaoPay written once would otherwise be confirmed
 * by the simulator instead of caught.
 *
 * Controls: authorize() skips the page; declineNextApproval makes the payment method refuse;
 * failNext answers 5xx (before or after the call took effect); throttleNext answers 429; dropNext takes effect and then
 * cuts the connection (the answer is lost); delayNext answers late. The clock is injectable.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ERRORS, errorBody, type SimError } from "./errors.ts";
import { buyerPage, messagePage, withParam } from "./page.ts";
import { cardInfo, digits, html, int, kstLocal, parseObject, readBody, redirect, send, sleep, str } from "./http.ts";

export type SimStatus =
  | "READY"
  | "SEND_TMS"
  | "OPEN_PAYMENT"
  | "SELECT_METHOD"
  | "ARS_WAITING"
  | "AUTH_PASSWORD"
  | "ISSUED_SID"
  | "SUCCESS_PAYMENT"
  | "PART_CANCEL_PAYMENT"
  | "CANCEL_PAYMENT"
  | "FAIL_AUTH_PASSWORD"
  | "QUIT_PAYMENT"
  | "FAIL_PAYMENT";

/** KakaoPay: a tid must be approved within 15 minutes of the ready call. */
export const TID_LIFETIME_MS = 15 * 60_000;
const BEFORE_AUTH: readonly SimStatus[] = ["READY", "SEND_TMS", "OPEN_PAYMENT", "SELECT_METHOD", "ARS_WAITING"];

interface Amounts {
  total: number;
  tax_free: number;
  vat: number;
  point: number;
  discount: number;
  green_deposit: number;
}

export interface SimAction {
  aid: string;
  type: "PAYMENT" | "CANCEL";
  at: Date;
  amount: number;
  taxFree: number;
  vat: number;
  payload: string | null;
}

export interface SimPayment {
  tid: string;
  cid: string;
  pageId: string;
  status: SimStatus;
  partnerOrderId: string;
  partnerUserId: string;
  itemName: string;
  itemCode: string | null;
  quantity: number;
  amount: Amounts;
  approvalUrl: string;
  cancelUrl: string;
  failUrl: string;
  createdAt: Date;
  approvedAt: Date | null;
  canceledAt: Date | null;
  pgToken: string | null;
  method: "CARD" | "MONEY" | null;
  /** Which redirect URL the buyer opened. */
  openedOn: "PC" | "MOBILE" | "APP" | null;
  actions: SimAction[];
  canceled: { total: number; taxFree: number; vat: number };
}

interface Fault {
  path: string | undefined;
  remaining: number;
  kind: "fail" | "drop" | "delay";
  status?: number;
  afterEffect: boolean;
  delayMs?: number;
}

interface Reply {
  status: number;
  body: unknown;
}

export interface KakaoPaySimulatorOptions {
  secretKey: string;
  /** Merchant codes this key may use (TC0ONETIME is KakaoPay's test CID). */
  cids?: string[];
  now?: () => Date;
  /**
   * What order lookup says for a tid that ran out its 15 minutes unapproved. KakaoPay documents
   * no status of its own for it; QUIT_PAYMENT (the buyer did not finish) is the default here.
   */
  expiredStatus?: SimStatus;
}

export class KakaoPaySimulator {
  readonly #server: Server;
  readonly #options: KakaoPaySimulatorOptions;
  readonly #payments = new Map<string, SimPayment>();
  readonly #pages = new Map<string, string>();
  readonly #faults: Fault[] = [];
  #decline: { code: string; message: string } | undefined;

  /** Everything the API received, in order. */
  readonly requests: Array<{ path: string; status: number }> = [];
  /** Approvals and cancels that moved money. */
  effectiveApprovals = 0;
  effectiveCancels = 0;
  url = "";

  private constructor(options: KakaoPaySimulatorOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => send(res, 500, errorBody({ ...ERRORS.internal, message: String(error) })));
    });
  }

  static async start(options: KakaoPaySimulatorOptions): Promise<KakaoPaySimulator> {
    const sim = new KakaoPaySimulator(options);
    await new Promise<void>((resolve) => sim.#server.listen(0, "127.0.0.1", resolve));
    sim.url = `http://127.0.0.1:${(sim.#server.address() as AddressInfo).port}`;
    return sim;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #now(): Date {
    return this.#options.now?.() ?? new Date();
  }

  // ---------------------------------------------------------------------------------------------
  // Controls

  payment(tidOrPartnerOrderId: string): SimPayment | undefined {
    return this.#payments.get(tidOrPartnerOrderId) ?? [...this.#payments.values()].find((p) => p.partnerOrderId === tidOrPartnerOrderId);
  }

  /** Every payment the simulator holds that `predicate` picks. */
  paymentsWhere(predicate: (payment: SimPayment) => boolean): SimPayment[] {
    return [...this.#payments.values()].filter(predicate);
  }

  /** The buyer approved in KakaoTalk without a browser; answers the pg_token the redirect carries. */
  authorize(tid: string, method: "CARD" | "MONEY" = "MONEY"): string {
    const payment = this.#payments.get(tid);
    if (payment === undefined) throw new Error(`no tid ${tid}`);
    if (!BEFORE_AUTH.includes(payment.status) || this.#expired(payment)) throw new Error(`tid ${tid} is ${payment.status}`);
    return this.#authenticate(payment, method);
  }

  /** The next approve is refused by the payment method (-780 with its result code). */
  declineNextApproval(methodResultCode = "USER_LOCKED", methodResultMessage = "진행중인 거래가 있습니다. 잠시 후 다시 시도해 주세요."): void {
    this.#decline = { code: methodResultCode, message: methodResultMessage };
  }

  /** The next `n` calls (to a path containing `path`) answer `status`; with afterEffect they took effect first. */
  failNext(n: number, status: 500 | 502 | 503 | 504, options: { path?: string; afterEffect?: boolean } = {}): void {
    this.#faults.push({ kind: "fail", remaining: n, status, path: options.path, afterEffect: options.afterEffect ?? false });
  }

  /** The next `n` calls (to a path containing `path`) are throttled (429) without taking effect. */
  throttleNext(n: number, options: { path?: string } = {}): void {
    this.#faults.push({ kind: "fail", remaining: n, status: 429, path: options.path, afterEffect: false });
  }

  /** The next call takes effect (or not) and the connection is then cut: the caller gets no answer. */
  dropNext(options: { path?: string; afterEffect?: boolean } = {}): void {
    this.#faults.push({ kind: "drop", remaining: 1, path: options.path, afterEffect: options.afterEffect ?? true });
  }

  /** The next call takes effect at once and answers after `ms` (a caller's time-out fires first). */
  delayNext(ms: number, options: { path?: string } = {}): void {
    this.#faults.push({ kind: "delay", remaining: 1, delayMs: ms, path: options.path, afterEffect: true });
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const raw = await readBody(req);
    if (url.pathname.startsWith("/pay/")) {
      this.#browser(req.method ?? "GET", url.pathname, raw, res);
      return;
    }
    if (req.method !== "POST" || !url.pathname.startsWith("/online/v1/payment/")) {
      send(res, 404, errorBody({ status: 404, code: -3, message: "not found" }));
      return;
    }
    const path = url.pathname;
    const record = (status: number): void => void this.requests.push({ path, status });

    if (req.headers.authorization !== `SECRET_KEY ${this.#options.secretKey}`) {
      record(ERRORS.unauthorized.status);
      send(res, ERRORS.unauthorized.status, errorBody(ERRORS.unauthorized));
      return;
    }
    const fault = this.#takeFault(path);
    if (fault !== undefined && !fault.afterEffect) {
      if (fault.kind === "drop") {
        res.destroy();
        return;
      }
      record(fault.status!);
      send(res, fault.status!, errorBody(faultError(fault.status!)));
      return;
    }
    const body = (req.headers["content-type"] ?? "").startsWith("application/json") ? parseObject(raw) : undefined;
    const reply = body === undefined ? fail(ERRORS.invalidParameter, "body must be a JSON object") : this.#route(path, body);
    if (fault?.kind === "delay") await sleep(fault.delayMs!);
    if (fault?.kind === "drop") {
      res.destroy();
      return;
    }
    if (fault?.kind === "fail") {
      record(fault.status!);
      send(res, fault.status!, errorBody(faultError(fault.status!)));
      return;
    }
    record(reply.status);
    send(res, reply.status, reply.body);
  }

  #takeFault(path: string): Fault | undefined {
    const index = this.#faults.findIndex((f) => f.remaining > 0 && (f.path === undefined || path.includes(f.path)));
    if (index < 0) return undefined;
    const fault = this.#faults[index]!;
    if (--fault.remaining === 0) this.#faults.splice(index, 1);
    return fault;
  }

  #route(path: string, body: Record<string, unknown>): Reply {
    switch (path) {
      case "/online/v1/payment/ready":
        return this.#ready(body);
      case "/online/v1/payment/approve":
        return this.#approve(body);
      case "/online/v1/payment/order":
        return this.#order(body);
      case "/online/v1/payment/cancel":
        return this.#cancel(body);
      default:
        return { status: 404, body: errorBody({ status: 404, code: -3, message: "not found" }) };
    }
  }

  #ready(b: Record<string, unknown>): Reply {
    const cid = str(b.cid, 10);
    if (cid === undefined) return fail(ERRORS.invalidParameter, "cid");
    if (!(this.#options.cids ?? ["TC0ONETIME"]).includes(cid)) return fail(ERRORS.invalidCid);
    const partnerOrderId = str(b.partner_order_id, 100);
    const partnerUserId = str(b.partner_user_id, 100);
    const itemName = str(b.item_name, 100);
    const quantity = int(b.quantity);
    const total = int(b.total_amount);
    const taxFree = int(b.tax_free_amount);
    const vatGiven = b.vat_amount === undefined ? undefined : int(b.vat_amount);
    const urls = [str(b.approval_url, 255), str(b.cancel_url, 255), str(b.fail_url, 255)];
    if (partnerOrderId === undefined) return fail(ERRORS.invalidParameter, "partner_order_id");
    if (partnerUserId === undefined) return fail(ERRORS.invalidParameter, "partner_user_id");
    if (itemName === undefined) return fail(ERRORS.invalidParameter, "item_name");
    if (quantity === undefined || quantity < 1) return fail(ERRORS.invalidParameter, "quantity");
    if (total === undefined || total < 1) return fail(ERRORS.invalidParameter, "total_amount");
    if (taxFree === undefined || taxFree > total) return fail(ERRORS.invalidParameter, "tax_free_amount");
    if (b.vat_amount !== undefined && (vatGiven === undefined || vatGiven > total - taxFree)) return fail(ERRORS.invalidParameter, "vat_amount");
    if (urls.some((u) => u === undefined || !/^https?:\/\//.test(u))) return fail(ERRORS.invalidParameter, "approval_url, cancel_url, fail_url");

    const now = this.#now();
    const payment: SimPayment = {
      tid: `T${digits(19)}`,
      cid,
      pageId: randomBytes(16).toString("hex"),
      status: "READY",
      partnerOrderId,
      partnerUserId,
      itemName,
      itemCode: typeof b.item_code === "string" ? b.item_code : null,
      quantity,
      // KakaoPay's documented default: VAT = (total − tax free) / 11, rounded.
      amount: { total, tax_free: taxFree, vat: vatGiven ?? Math.round((total - taxFree) / 11), point: 0, discount: 0, green_deposit: 0 },
      approvalUrl: urls[0]!,
      cancelUrl: urls[1]!,
      failUrl: urls[2]!,
      createdAt: now,
      approvedAt: null,
      canceledAt: null,
      pgToken: null,
      method: null,
      openedOn: null,
      actions: [],
      canceled: { total: 0, taxFree: 0, vat: 0 },
    };
    this.#payments.set(payment.tid, payment);
    this.#pages.set(payment.pageId, payment.tid);
    const page = `${this.url}/pay/${payment.pageId}`;
    return {
      status: 200,
      body: {
        tid: payment.tid,
        created_at: kstLocal(now),
        next_redirect_pc_url: `${page}/info`,
        next_redirect_mobile_url: `${page}/mInfo`,
        next_redirect_app_url: `${page}/aInfo`,
        android_app_scheme: `kakaotalk://kakaopay/pg?url=${page}/order`,
        ios_app_scheme: `kakaotalk://kakaopay/pg?url=${page}/order`,
      },
    };
  }

  #approve(b: Record<string, unknown>): Reply {
    const found = this.#find(b);
    if ("status" in found) return found;
    const p = found.payment;
    const pgToken = str(b.pg_token, 100);
    if (pgToken === undefined) return fail(ERRORS.invalidParameter, "pg_token");
    if (["SUCCESS_PAYMENT", "PART_CANCEL_PAYMENT", "CANCEL_PAYMENT"].includes(p.status)) return fail(ERRORS.alreadyApproved);
    if (this.#expired(p)) return fail(ERRORS.expired);
    if (p.status !== "AUTH_PASSWORD" || p.pgToken === null) return fail(ERRORS.notAuthenticated);
    if (pgToken !== p.pgToken) return fail(ERRORS.invalidPgToken);
    const total = b.total_amount === undefined ? p.amount.total : int(b.total_amount);
    if (b.partner_order_id !== p.partnerOrderId || b.partner_user_id !== p.partnerUserId || total !== p.amount.total) return fail(ERRORS.partnerMismatch);
    if (this.#decline !== undefined) {
      const extras = { method_result_code: this.#decline.code, method_result_message: this.#decline.message };
      this.#decline = undefined;
      p.status = "FAIL_PAYMENT";
      return { status: ERRORS.approvalFailure.status, body: errorBody(ERRORS.approvalFailure, extras) };
    }
    const now = this.#now();
    p.status = "SUCCESS_PAYMENT";
    p.approvedAt = now;
    const aid = `A${digits(19)}`;
    const payload = typeof b.payload === "string" ? b.payload.slice(0, 200) : null;
    p.actions.push({ aid, type: "PAYMENT", at: now, amount: p.amount.total, taxFree: p.amount.tax_free, vat: p.amount.vat, payload });
    this.effectiveApprovals++;
    return {
      status: 200,
      body: {
        aid,
        tid: p.tid,
        cid: p.cid,
        partner_order_id: p.partnerOrderId,
        partner_user_id: p.partnerUserId,
        payment_method_type: p.method,
        item_name: p.itemName,
        item_code: p.itemCode,
        quantity: p.quantity,
        amount: p.amount,
        ...(p.method === "CARD" ? { card_info: cardInfo() } : {}),
        created_at: kstLocal(p.createdAt),
        approved_at: kstLocal(now),
        payload,
      },
    };
  }

  #order(b: Record<string, unknown>): Reply {
    const found = this.#find(b);
    if ("status" in found) return found;
    const p = found.payment;
    const status = this.#expired(p) ? (this.#options.expiredStatus ?? "QUIT_PAYMENT") : p.status;
    return {
      status: 200,
      body: {
        tid: p.tid,
        cid: p.cid,
        status,
        partner_order_id: p.partnerOrderId,
        partner_user_id: p.partnerUserId,
        payment_method_type: p.method,
        amount: p.amount,
        canceled_amount: this.#canceledAmounts(p),
        cancel_available_amount: this.#availableAmounts(p),
        item_name: p.itemName,
        item_code: p.itemCode,
        quantity: p.quantity,
        created_at: kstLocal(p.createdAt),
        approved_at: p.approvedAt === null ? null : kstLocal(p.approvedAt),
        canceled_at: p.canceledAt === null ? null : kstLocal(p.canceledAt),
        ...(p.method === "CARD" && p.approvedAt !== null
          ? { selected_card_info: { card_bin: "621640", install_month: 0, card_corp_name: "비씨카드", interest_free_install: "N" } }
          : {}),
        payment_action_details: p.actions.map((a) => ({
          aid: a.aid,
          approved_at: kstLocal(a.at),
          amount: a.amount,
          point_amount: 0,
          discount_amount: 0,
          green_deposit: 0,
          payment_action_type: a.type,
          payload: a.payload,
        })),
      },
    };
  }

  #cancel(b: Record<string, unknown>): Reply {
    const found = this.#find(b);
    if ("status" in found) return found;
    const p = found.payment;
    const amount = int(b.cancel_amount);
    const taxFree = int(b.cancel_tax_free_amount);
    if (amount === undefined || amount < 1) return fail(ERRORS.invalidParameter, "cancel_amount");
    if (taxFree === undefined || taxFree > amount) return fail(ERRORS.invalidParameter, "cancel_tax_free_amount");
    if (p.status === "CANCEL_PAYMENT") return fail(ERRORS.alreadyCancelled);
    if (p.status !== "SUCCESS_PAYMENT" && p.status !== "PART_CANCEL_PAYMENT") return fail(ERRORS.notCancellable);
    const available = p.amount.total - p.canceled.total;
    if (b.cancel_available_amount !== undefined && int(b.cancel_available_amount) !== available) return fail(ERRORS.cancelAvailableMismatch);
    if (amount > available || taxFree > p.amount.tax_free - p.canceled.taxFree) return fail(ERRORS.cancelAmountExceeded);
    const vatLeft = p.amount.vat - p.canceled.vat;
    const vatGiven = b.cancel_vat_amount === undefined ? undefined : int(b.cancel_vat_amount);
    if (b.cancel_vat_amount !== undefined && (vatGiven === undefined || vatGiven > vatLeft)) return fail(ERRORS.invalidParameter, "cancel_vat_amount");
    // The last cancel takes whatever VAT is left, so the parts always add up to the payment's.
    const vat = vatGiven ?? (amount === available ? vatLeft : Math.min(vatLeft, Math.round((amount - taxFree) / 11)));

    const now = this.#now();
    const aid = `A${digits(19)}`;
    const payload = typeof b.payload === "string" ? b.payload.slice(0, 200) : null;
    p.canceled = { total: p.canceled.total + amount, taxFree: p.canceled.taxFree + taxFree, vat: p.canceled.vat + vat };
    p.status = p.canceled.total === p.amount.total ? "CANCEL_PAYMENT" : "PART_CANCEL_PAYMENT";
    p.canceledAt = now;
    p.actions.push({ aid, type: "CANCEL", at: now, amount, taxFree, vat, payload });
    this.effectiveCancels++;
    return {
      status: 200,
      body: {
        aid,
        tid: p.tid,
        cid: p.cid,
        status: p.status,
        partner_order_id: p.partnerOrderId,
        partner_user_id: p.partnerUserId,
        payment_method_type: p.method,
        item_name: p.itemName,
        item_code: p.itemCode,
        quantity: p.quantity,
        amount: p.amount,
        approved_cancel_amount: { total: amount, tax_free: taxFree, vat, point: 0, discount: 0, green_deposit: 0 },
        canceled_amount: this.#canceledAmounts(p),
        cancel_available_amount: this.#availableAmounts(p),
        created_at: kstLocal(p.createdAt),
        approved_at: p.approvedAt === null ? null : kstLocal(p.approvedAt),
        canceled_at: kstLocal(now),
        payload,
      },
    };
  }

  #find(b: Record<string, unknown>): { payment: SimPayment } | Reply {
    const cid = str(b.cid, 10);
    const tid = str(b.tid, 20);
    if (cid === undefined) return fail(ERRORS.invalidParameter, "cid");
    if (tid === undefined) return fail(ERRORS.invalidParameter, "tid");
    const payment = this.#payments.get(tid);
    if (payment === undefined || payment.cid !== cid) return fail(ERRORS.invalidTid);
    return { payment };
  }

  #canceledAmounts(p: SimPayment): Amounts {
    return { total: p.canceled.total, tax_free: p.canceled.taxFree, vat: p.canceled.vat, point: 0, discount: 0, green_deposit: 0 };
  }

  #availableAmounts(p: SimPayment): Amounts {
    const paid = p.approvedAt !== null;
    return {
      total: paid ? p.amount.total - p.canceled.total : 0,
      tax_free: paid ? p.amount.tax_free - p.canceled.taxFree : 0,
      vat: paid ? p.amount.vat - p.canceled.vat : 0,
      point: 0,
      discount: 0,
      green_deposit: 0,
    };
  }

  /** Unapproved and older than 15 minutes. */
  #expired(p: SimPayment): boolean {
    return p.approvedAt === null && [...BEFORE_AUTH, "AUTH_PASSWORD"].includes(p.status) && this.#now().getTime() - p.createdAt.getTime() >= TID_LIFETIME_MS;
  }

  #authenticate(p: SimPayment, method: "CARD" | "MONEY"): string {
    p.status = "AUTH_PASSWORD";
    p.method = method;
    p.pgToken = randomBytes(10).toString("hex");
    return p.pgToken;
  }

  // ---------------------------------------------------------------------------------------------
  // The buyer's page

  #browser(method: string, path: string, raw: string, res: ServerResponse): void {
    const m = /^\/pay\/([0-9a-f]{32})\/(info|mInfo|aInfo|order|action)$/.exec(path);
    const tid = m ? this.#pages.get(m[1]!) : undefined;
    const p = tid === undefined ? undefined : this.#payments.get(tid);
    if (m === null || p === undefined) {
      html(res, 404, messagePage("존재하지 않는 결제입니다", "NOT_FOUND"));
      return;
    }
    if (method === "GET" && m[2] !== "action") {
      const device = m[2] === "info" ? "PC" : m[2] === "mInfo" ? "MOBILE" : "APP";
      if (!this.#expired(p) && (p.status === "READY" || p.status === "SEND_TMS")) {
        p.status = "OPEN_PAYMENT";
        p.openedOn = device;
      }
      html(res, 200, buyerPage({ pageId: m[1]!, device, itemName: p.itemName, totalAmount: p.amount.total, status: p.status, expired: this.#expired(p) }));
      return;
    }
    if (method !== "POST" || m[2] !== "action") {
      html(res, 405, messagePage("잘못된 요청입니다", "METHOD_NOT_ALLOWED"));
      return;
    }
    const form = new URLSearchParams(raw);
    if (this.#expired(p)) {
      html(res, 410, messagePage("결제 시간이 만료되었습니다", "EXPIRED"));
      return;
    }
    if (!BEFORE_AUTH.includes(p.status)) {
      html(res, 409, messagePage("이미 처리된 결제입니다", p.status));
      return;
    }
    switch (form.get("decision")) {
      case "approve": {
        const token = this.#authenticate(p, form.get("method") === "CARD" ? "CARD" : "MONEY");
        redirect(res, withParam(p.approvalUrl, "pg_token", token));
        return;
      }
      case "cancel":
        p.status = "QUIT_PAYMENT";
        redirect(res, p.cancelUrl);
        return;
      case "fail":
        p.status = "FAIL_AUTH_PASSWORD";
        redirect(res, p.failUrl);
        return;
      default:
        html(res, 400, messagePage("잘못된 요청입니다", "BAD_DECISION"));
    }
  }
}

function faultError(status: number): SimError {
  return status === 429 ? ERRORS.throttled : status === 503 ? ERRORS.unavailable : ERRORS.internal;
}

function fail(error: SimError, detail?: string): Reply {
  return { status: error.status, body: errorBody(detail === undefined ? error : { ...error, message: `${error.message}: ${detail}` }) };
}
