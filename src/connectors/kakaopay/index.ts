/**
 * KakaoPay (카카오페이), Korea's largest easy-pay wallet, over its online single-payment API on the
 * open-api host. The flow: ready (PayStart) → the buyer approves in KakaoTalk → KakaoPay sends the
 * browser to PGB's return URL with a `pg_token` → PGB approves with the tid it stored and that
 * token. No money moves before PGB's approve call, so a checkout PGB closes is closed by refusing to
 * approve it. KakaoPay sends no webhooks for single payments: a payment whose return never came is
 * settled by the reconciler through order lookup, and a tid dies 15 minutes after its ready call.
 *
 * By concern: settings.ts, capabilities.ts, wire.ts (KakaoPay's shapes), transformers.ts (pure
 * mapping), client.ts (HTTP and KakaoPay's error codes), store.ts (the connector's table),
 * refunds.ts (cancels), routes.ts (the page that picks PC or mobile); this file is the connector.
 */
import type { Logger } from "pino";
import {
  ConnectorError,
  type CheckoutCreated,
  type CheckoutInput,
  type CheckoutRef,
  type Connector,
  type PaymentRef,
  type PgPayment,
  type PgRefund,
  type RefundInput,
  type RefundLookup,
  type RefundOutcome,
  type RefundRef,
  type ReturnInput,
  type WebhookAction,
} from "../../core/ports/connector.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { ConnectorDeps, ConnectorFactory } from "../factory.ts";
import { KAKAOPAY_CAPABILITIES } from "./capabilities.ts";
import { KakaoPayApi } from "./client.ts";
import { listRefunds, lookupRefund, refund, type RefundDeps } from "./refunds.ts";
import { registerRoutes } from "./routes.ts";
import { KakaoPaySettingsSchema, type KakaoPaySettings } from "./settings.ts";
import { KakaoPayCheckouts, kakaoPayMigrations, type KakaoPayCheckout, type KakaoPayTables } from "./store.ts";
import { approveToPgPayment, KAKAOPAY_TID_LIFETIME_MS, orderToPgPayment, partnerOrderId, partnerUserId, readyAmounts } from "./transformers.ts";
import type { KakaoPayOrderResponse } from "./wire.ts";
import { brand, type PgTransactionId } from "../../core/ids.ts";

const PG = "KAKAOPAY";
/** KakaoPay's item_name limit. */
const ITEM_NAME_MAX = 100;
/** What a pg_token looks like; anything else in the query is not KakaoPay's and is never sent on. */
const PG_TOKEN = /^[A-Za-z0-9_-]{1,100}$/;

function withQuery(url: string, params: Record<string, string>): string {
  const target = new URL(url);
  for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
  return target.toString();
}

class KakaoPayConnector implements Connector {
  readonly pg = PG;
  readonly #tenant: string;
  readonly #api: KakaoPayApi;
  readonly #checkouts: KakaoPayCheckouts;
  readonly #publicUrl: string;
  readonly #logger: Logger;
  /** Keys the partner ids, so they can be neither guessed from the host's OrderId nor forged. */
  readonly #partnerSecret: string;
  readonly #refundDeps: RefundDeps;
  readonly #clock: Clock;

  constructor(settings: KakaoPaySettings, tenant: string, deps: ConnectorDeps) {
    this.#tenant = tenant;
    this.#logger = deps.logger.child({ pg: PG, tenant });
    this.#api = new KakaoPayApi(settings, this.#logger, deps.pgCallMetrics);
    this.#checkouts = new KakaoPayCheckouts(deps.storage.forTables<KakaoPayTables>());
    this.#publicUrl = deps.publicUrl.replace(/\/+$/, "");
    this.#clock = deps.clock;
    this.#partnerSecret = `${settings.cid}:${settings.secretKey.reveal()}`;
    this.#refundDeps = { api: this.#api, order: (tid, reference) => this.#order(tid, reference) };
  }

  async createCheckout(input: CheckoutInput): Promise<CheckoutCreated> {
    if (input.amount.currency !== "KRW")
      throw new ConnectorError("fatal", `KakaoPay settles in KRW; this payment is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
    if (input.payType !== "EASY_PAY")
      throw new ConnectorError("fatal", `KakaoPay takes PayType EASY_PAY, not ${input.payType}; fix the tenant's routes`, "UNSUPPORTED_PAY_TYPE");
    const checkoutUrl = `${this.#publicUrl}/PGBReturn/kakaopay/checkout/${encodeURIComponent(input.paymentId)}`;
    // KakaoPay has no idempotency key: the tid of a first ready is kept and handed out again.
    const existing = await this.#checkouts.find(input.paymentId);
    if (existing !== undefined) return { pgTransactionId: existing.tid, checkoutUrl };

    const orderId = partnerOrderId(input.paymentId, this.#partnerSecret);
    const userId = partnerUserId(input.tenant, input.joinerId, this.#partnerSecret);
    const ready = await this.#api.ready({
      partner_order_id: orderId,
      partner_user_id: userId,
      item_name: [...(input.description.trim() || `Order ${input.orderId}`)].slice(0, ITEM_NAME_MAX).join(""),
      ...readyAmounts(input.amount),
      approval_url: input.returnUrl,
      cancel_url: withQuery(input.returnUrl, { result: "cancel" }),
      fail_url: withQuery(input.returnUrl, { result: "fail" }),
    });
    const tidDies = new Date(this.#clock.nowMs() + KAKAOPAY_TID_LIFETIME_MS);
    const kept = await this.#checkouts.create({
      paymentReference: input.paymentId,
      tenant: this.#tenant,
      tid: brand<PgTransactionId>(ready.tid),
      partnerOrderId: orderId,
      partnerUserId: userId,
      amountMinor: input.amount.minor,
      pcUrl: ready.next_redirect_pc_url,
      mobileUrl: ready.next_redirect_mobile_url,
      expiresAt: input.expiresAt < tidDies ? input.expiresAt : tidDies,
    });
    // Lost a race with a concurrent create: the winner's tid stands, ours expires unused at KakaoPay.
    return { pgTransactionId: kept.tid, checkoutUrl };
  }

  async handleReturn(input: ReturnInput): Promise<PgPayment> {
    const reference = input.paymentReference;
    const row = await this.#checkouts.find(reference);
    // The tid PGB stored, never one from the browser.
    const tid = input.pgTransactionId ?? row?.tid;
    if (tid === undefined) throw new ConnectorError("fatal", `no KakaoPay tid is stored for ${reference}`, "TID_UNKNOWN");
    if (row !== undefined && row.tid !== tid)
      throw new ConnectorError("fatal", `the stored tid of ${reference} differs from the connector's record`, "TID_MISMATCH");
    const pgToken = input.query.pg_token;
    if (pgToken === undefined || !PG_TOKEN.test(pgToken)) {
      // Cancel, fail, a bare or forged return: none of it is believed; KakaoPay's record answers.
      if (input.query.result === "cancel" || input.query.result === "fail")
        this.#logger.info({ paymentReference: reference, result: input.query.result }, "KakaoPay cancel/fail return; asking KakaoPay instead of believing it");
      return this.fetchPayment({ pgTransactionId: tid, paymentReference: reference });
    }
    if (row === undefined) throw new ConnectorError("fatal", `the KakaoPay checkout of ${reference} is not in PGB's table; cannot approve`, "CHECKOUT_UNKNOWN");
    if (row.status === "EXPIRED") return expired(row, "The checkout was closed before the buyer returned; not approved.");
    if (row.amountMinor !== input.amount.minor)
      throw new ConnectorError("fatal", `the amount of ${reference} differs from the one sent to KakaoPay's ready call`, "AMOUNT_MISMATCH");

    return this.#approve(row, pgToken);
  }

  /**
   * Approves once, and once more only when KakaoPay's record shows the first call did not land (a
   * lost answer before KakaoPay acted): a second approve of an approved tid is refused (-702), never
   * charged twice. Whatever the approve said otherwise, KakaoPay's record decides, so a forged
   * pg_token cannot fail a payment and a lost answer cannot lose one.
   */
  async #approve(row: KakaoPayCheckout, pgToken: string): Promise<PgPayment> {
    const reference = row.paymentReference;
    const orderId = row.partnerOrderId;
    const ref = { pgTransactionId: row.tid, paymentReference: reference };
    for (let attempt = 1; ; attempt++) {
      try {
        const approved = await this.#api.approve({
          tid: row.tid,
          partner_order_id: orderId,
          partner_user_id: row.partnerUserId,
          pg_token: pgToken,
          total_amount: Number(row.amountMinor),
        });
        if (approved.tid !== row.tid || approved.partner_order_id !== orderId) {
          throw new ConnectorError("fatal", "KakaoPay approved another payment than the one PGB asked for", "APPROVE_MISMATCH");
        }
        // The core compares this amount with its record before the payment becomes PAID.
        return approveToPgPayment(approved, reference);
      } catch (error) {
        if (!(error instanceof ConnectorError) || error.errorClass === "fatal") throw error;
        let current: PgPayment;
        try {
          current = await this.fetchPayment(ref);
        } catch {
          throw error; // still unknown: the approve's own failure says so best
        }
        if (current.status === "FAILED" && error.errorClass === "declined") {
          return { ...current, failure: { code: error.pgCode ?? "DECLINED", message: error.pgMessage ?? error.message } };
        }
        if (current.status !== "PENDING" || error.errorClass === "declined") return current;
        if (attempt >= 2) throw error;
        this.#logger.info({ paymentReference: reference }, "KakaoPay approve did not take effect; trying once more");
      }
    }
  }

  async fetchPayment(ref: PaymentRef): Promise<PgPayment> {
    const order = await this.#order(ref.pgTransactionId, ref.paymentReference);
    const payment = orderToPgPayment(order, ref.paymentReference, this.#clock.now());
    if (payment.status === "PENDING") {
      // Closed by PGB: KakaoPay still waits for an approve that PGB will never send.
      const row = await this.#checkouts.find(ref.paymentReference);
      if (row?.status === "EXPIRED")
        return { ...payment, status: "EXPIRED", failure: { code: "CHECKOUT_EXPIRED", message: "PGB closed the checkout before it was approved." } };
    }
    return payment;
  }

  refund(input: RefundInput): Promise<RefundOutcome> {
    return refund(this.#refundDeps, input);
  }

  lookupRefund(ref: RefundRef): Promise<RefundLookup> {
    return lookupRefund(this.#refundDeps, ref);
  }

  listRefunds(ref: PaymentRef): Promise<PgRefund[]> {
    return listRefunds(this.#refundDeps, ref);
  }

  /** KakaoPay has no call to void a ready tid; PGB closes it by never approving it. */
  async expireCheckout(ref: CheckoutRef): Promise<void> {
    await this.#checkouts.expire(ref.paymentReference);
  }

  parseWebhook(): Promise<WebhookAction> {
    return Promise.resolve({ kind: "rejected", reason: "KakaoPay sends no webhooks for single payments" });
  }

  /**
   * Order lookup, checked to be this payment's: a wrong tid must not let one payment read another.
   * partner_order_id begins with PGB's payment id; its keyed tag is not checked here, so rotating the
   * secret key leaves earlier payments readable and refundable.
   */
  async #order(tid: string, paymentReference: string): Promise<KakaoPayOrderResponse> {
    const order = await this.#api.order(tid);
    if (order.tid !== tid || !order.partner_order_id.startsWith(`${paymentReference}.`)) {
      throw new ConnectorError("fatal", `KakaoPay's order for tid ${tid} is not payment ${paymentReference}`, "ORDER_MISMATCH");
    }
    return order;
  }
}

function expired(row: KakaoPayCheckout, message: string): PgPayment {
  return {
    pgTransactionId: row.tid,
    status: "EXPIRED",
    amount: { minor: row.amountMinor, currency: "KRW" },
    paymentReference: row.paymentReference,
    failure: { code: "CHECKOUT_EXPIRED", message },
  };
}

export { KakaoPaySettingsSchema };

export const kakaoPayConnector: ConnectorFactory<typeof KakaoPaySettingsSchema> = {
  pg: PG,
  settingsSchema: KakaoPaySettingsSchema,
  // KakaoPay posts nothing to PGB; the path exists for every PG, so it reads almost nothing.
  maxWebhookBytes: 1024,
  capabilities: KAKAOPAY_CAPABILITIES,
  create: (settings, context) => new KakaoPayConnector(settings, context.tenant, context.deps),
  migrations: kakaoPayMigrations,
  registerRoutes,
};
