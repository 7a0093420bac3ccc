/**
 * Toss Payments (토스페이먼츠), Korea's card and virtual-account PG, over plain HTTPS (Toss has no
 * Node server SDK). Toss has no server-side "create checkout": the customer's browser opens Toss's
 * payment window through its JS SDK, so PGB serves that page itself (/PGBReturn/toss/checkout/:ref)
 * and keeps what the page needs in its own table. On the success return PGB checks orderId and amount
 * against its record and only then confirms (POST /v1/payments/confirm).
 *
 * Toss's payment webhooks are unsigned: they are hints. The core re-reads the payment (fetchPayment)
 * before any transition, and a DEPOSIT_CALLBACK whose `secret` differs from the one Toss gave at
 * issuance is rejected (webhooks.ts).
 *
 * By concern: settings.ts (the tenant's settings), wire.ts (Toss's shapes), transformers.ts (pure
 * mapping), client.ts (the HTTP client and Toss's error codes), store.ts (the connector's tables),
 * refunds.ts (cancels), page.ts and routes.ts (the checkout page), webhooks.ts, capabilities.ts; this
 * file is the connector.
 */
import type { Logger } from "pino";
import type { Money } from "../../core/money.ts";
import {
  ConnectorError,
  type CheckoutCreated,
  type CheckoutInput,
  type Connector,
  type PgPayment,
  type RefundInput,
  type RefundLookup,
  type RefundOutcome,
  type RefundRef,
  type WebhookAction,
  type WebhookInput,
} from "../../core/ports/connector.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { type ConnectorDeps, type ConnectorFactory } from "../factory.ts";
import {
  assertOurs,
  confirmIdempotencyKey,
  moneyToWon,
  paymentKeyOf,
  returnAmountMatches,
  sdkMethodFor,
  successReturnParams,
  toPgPayment,
  tossOrderIdFor,
} from "./transformers.ts";
import { type TossCancelRequest, type TossConfirmRequest, type TossPayment } from "./wire.ts";
import { TOSS_CAPABILITIES } from "./capabilities.ts";
import { isConnectorError, TossApi } from "./client.ts";
import { parseTossWebhook } from "./webhooks.ts";
import { lookupRefund, refund, type RefundDeps } from "./refunds.ts";
import { registerRoutes } from "./routes.ts";
import { TossSettingsSchema, type TossSettings } from "./settings.ts";
import { CancelLedger, CheckoutStore, tossMigrations, type CheckoutRow, type TossTables } from "./store.ts";
import { provisionalPgTransactionId, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

const PG = "TOSS";
/** Toss's orderName limit. */
const ORDER_NAME_MAX = 100;

// ---------------------------------------------------------------------------------------------

const enc = encodeURIComponent;

class TossConnector implements Connector {
  readonly pg = PG;
  readonly #tenant: string;
  readonly #api: TossApi;
  readonly #store: CheckoutStore;
  readonly #refundDeps: RefundDeps;
  readonly #publicUrl: string;
  readonly #logger: Logger;
  readonly #clock: Clock;

  constructor(settings: TossSettings, tenant: string, deps: ConnectorDeps) {
    this.#tenant = tenant;
    this.#logger = deps.logger.child({ pg: PG, tenant });
    this.#api = new TossApi(settings, this.#logger, deps.pgCallMetrics);
    const storage = deps.storage.forTables<TossTables>();
    this.#store = new CheckoutStore(storage);
    this.#publicUrl = deps.publicUrl.replace(/\/+$/, "");
    this.#clock = deps.clock;
    this.#refundDeps = { tenant, api: this.#api, store: this.#store, cancels: new CancelLedger(storage), clock: this.#clock };
  }

  async createCheckout(input: CheckoutInput): Promise<CheckoutCreated> {
    if (input.amount.currency !== "KRW") {
      throw new ConnectorError("fatal", `Toss settles in KRW; this payment is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
    }
    if (sdkMethodFor(input.payType) === undefined) {
      throw new ConnectorError("fatal", `Toss does not take PayType ${input.payType}; fix the tenant's routes`, "UNSUPPORTED_PAY_TYPE");
    }
    await this.#store.create({
      paymentReference: input.paymentId,
      tenant: this.#tenant,
      tossOrderId: tossOrderIdFor(input.paymentId),
      orderName: orderNameOf(input),
      amount: input.amount,
      payType: input.payType,
      returnUrl: input.returnUrl,
      expiresAt: input.expiresAt,
    });
    return {
      // Toss has no id before the customer opens its window; the paymentKey replaces this on return.
      pgTransactionId: provisionalPgTransactionId(input.paymentId),
      checkoutUrl: `${this.#publicUrl}/PGBReturn/toss/checkout/${enc(input.paymentId)}`,
    };
  }

  async handleReturn(input: {
    pgTransactionId: PgTransactionId | null;
    paymentReference: PaymentId;
    amount: Money;
    query: Record<string, string>;
    details?: Record<string, unknown>;
  }): Promise<PgPayment> {
    const reference = input.paymentReference;
    const knownId = input.pgTransactionId ?? provisionalPgTransactionId(reference);
    const row = await this.#store.find(reference);
    if (row?.status === "RETURNED") {
      // Already confirmed (an issued virtual account, a reloaded success page): a later return URL,
      // forged or stale, must not fail it. Toss's record answers.
      return this.fetchPayment({ pgTransactionId: knownId, paymentReference: reference, details: input.details });
    }
    const success = successReturnParams(input.query);
    if (success === undefined) {
      if (input.query.result === "fail" || input.query.code !== undefined) {
        // Anyone can call the fail URL with any code, and Toss ends nothing on it either (the
        // customer may open the payment window again): only Toss's own record may end the payment.
        this.#logger.info(
          { paymentReference: reference, code: (input.query.code ?? "").slice(0, 64) },
          "Toss fail return; asking Toss instead of believing it",
        );
      }
      // A bare or fail return (back button, a bookmark, a closed window) says nothing: answer Toss's current truth.
      return this.fetchPayment({ pgTransactionId: knownId, paymentReference: reference, details: input.details });
    }

    // The query is the customer's browser talking: nothing in it is confirmed before it matches.
    const expectedOrderId = row?.tossOrderId ?? tossOrderIdFor(reference);
    if (success.orderId !== expectedOrderId) {
      return mismatch(reference, knownId, input.amount, "ORDER_ID_MISMATCH", "The orderId in the return does not match this payment; not confirmed.");
    }
    const amountMatches = returnAmountMatches(success.amount, input.amount) && (row === undefined || row.amount.minor === input.amount.minor);
    if (!amountMatches) {
      this.#logger.warn(
        { paymentReference: reference, returned: success.amount.slice(0, 20) },
        "Toss return amount differs from the stored amount; not confirming",
      );
      return mismatch(reference, knownId, input.amount, "AMOUNT_MISMATCH", "The amount in the return differs from the payment's amount; not confirmed.");
    }
    if (row?.status === "EXPIRED") {
      return {
        pgTransactionId: knownId,
        status: "EXPIRED",
        amount: input.amount,
        paymentReference: reference,
        failure: { code: "CHECKOUT_EXPIRED", message: "The checkout was expired before the customer finished; not confirmed." },
      };
    }

    let payment: TossPayment;
    try {
      payment = await this.#confirm(reference, { paymentKey: success.paymentKey, orderId: success.orderId, amount: moneyToWon(input.amount) });
    } catch (error) {
      if (isConnectorError(error) && error.errorClass === "declined") {
        // Toss refused the confirm (card rejected, deadline passed...): the payment failed there.
        await this.#store.setStatus(reference, "FAILED", ["OPEN"]);
        return {
          pgTransactionId: knownId,
          // Past Toss's 10-minute confirm window the payment session is gone: 404 NOT_FOUND_PAYMENT_SESSION.
          status: error.pgCode === "NOT_FOUND_PAYMENT_SESSION" ? "EXPIRED" : "FAILED",
          amount: input.amount,
          paymentReference: reference,
          failure: { code: error.pgCode ?? "DECLINED", message: error.pgMessage ?? error.message },
        };
      }
      throw error;
    }
    assertOurs(payment, expectedOrderId);
    await this.#store.remember(reference, payment);
    await this.#store.setStatus(reference, "RETURNED", ["OPEN", "FAILED"]);
    return toPgPayment(payment, reference);
  }

  /**
   * Confirms once. When the answer is lost (time-out, 5xx) Toss's record of the payment decides:
   * confirmed → that is the answer; still IN_PROGRESS → it did not happen, so one more try with the
   * same Idempotency-Key (a confirm that did land is then replayed, never repeated).
   */
  async #confirm(reference: string, request: TossConfirmRequest): Promise<TossPayment> {
    const key = confirmIdempotencyKey(reference, request.paymentKey);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#api.post("/v1/payments/confirm", request, key);
      } catch (error) {
        if (!isConnectorError(error)) throw error;
        if (error.errorClass === "declined" && error.pgCode === "ALREADY_PROCESSED_PAYMENT") {
          return this.#api.get(`/v1/payments/${enc(request.paymentKey)}`);
        }
        if (error.errorClass !== "retryable" && error.errorClass !== "indeterminate") throw error;
        let current: TossPayment;
        try {
          current = await this.#api.get(`/v1/payments/${enc(request.paymentKey)}`);
        } catch {
          throw error; // still unknown: the original failure says so best
        }
        if (current.status !== "IN_PROGRESS" && current.status !== "READY") return current;
        if (attempt >= 2) throw error;
        this.#logger.info({ paymentReference: reference }, "Toss confirm did not take effect; trying once more");
      }
    }
  }

  async fetchPayment(ref: { pgTransactionId: PgTransactionId; paymentReference: PaymentId; details?: Record<string, unknown> }): Promise<PgPayment> {
    const reference = ref.paymentReference;
    const row = await this.#store.find(reference);
    const tossOrderId = row?.tossOrderId ?? tossOrderIdFor(reference);
    const paymentKey = paymentKeyOf(ref, row);
    let payment: TossPayment;
    try {
      payment = await this.#api.get(paymentKey !== undefined ? `/v1/payments/${enc(paymentKey)}` : `/v1/payments/orders/${enc(tossOrderId)}`);
    } catch (error) {
      // No Toss payment for this order yet: the customer never opened Toss's window.
      if (isConnectorError(error) && error.pgCode === "NOT_FOUND_PAYMENT" && paymentKey === undefined && row !== undefined) {
        return notStarted(row, ref.pgTransactionId, this.#clock.now());
      }
      throw error;
    }
    assertOurs(payment, tossOrderId);
    if (row !== undefined) await this.#store.remember(reference, payment);
    return toPgPayment(payment, reference);
  }

  refund(input: RefundInput): Promise<RefundOutcome> {
    return refund(this.#refundDeps, input);
  }

  lookupRefund(ref: RefundRef): Promise<RefundLookup> {
    return lookupRefund(this.#refundDeps, ref);
  }

  async expireCheckout(ref: { pgTransactionId: string; paymentReference: string }): Promise<void> {
    const row = await this.#store.find(ref.paymentReference);
    await this.#store.setStatus(ref.paymentReference, "EXPIRED", ["OPEN", "RETURNED", "FAILED"]);
    // An issued virtual account would still take a deposit for a superseded payment: withdraw it.
    // Toss has no expire call for anything else; the page refusing is enough there.
    const paymentKey = paymentKeyOf(ref, row);
    if (paymentKey === undefined) return;
    const payment = await this.#api.get(`/v1/payments/${enc(paymentKey)}`);
    if (payment.status !== "WAITING_FOR_DEPOSIT" || payment.orderId !== (row?.tossOrderId ?? tossOrderIdFor(ref.paymentReference))) return;
    await this.#api.post(
      `/v1/payments/${enc(paymentKey)}/cancel`,
      { cancelReason: "Checkout expired before the deposit" } satisfies TossCancelRequest,
      `pgb-expire-${ref.paymentReference}`,
    );
  }

  parseWebhook(input: WebhookInput): Promise<WebhookAction> {
    return parseTossWebhook(input, this.#tenant, this.#store, this.#logger);
  }
}

function mismatch(reference: string, pgTransactionId: PgTransactionId, amount: Money, code: string, message: string): PgPayment {
  return { pgTransactionId, status: "FAILED", amount, paymentReference: reference, failure: { code, message } };
}

function notStarted(row: CheckoutRow, pgTransactionId: PgTransactionId, now: Date): PgPayment {
  const expired = row.status === "EXPIRED" || row.expiresAt.getTime() <= now.getTime();
  const result: PgPayment = { pgTransactionId, status: expired ? "EXPIRED" : "PENDING", amount: row.amount, paymentReference: row.paymentReference };
  if (expired) result.failure = { code: "CHECKOUT_EXPIRED", message: "The customer never opened Toss's payment window before the checkout expired." };
  return result;
}

/** ConnectorError messages carry our prefix; the history keeps Toss's own words. */
function orderNameOf(input: CheckoutInput): string {
  const name = input.description.trim() || `Order ${input.orderId}`;
  return [...name].slice(0, ORDER_NAME_MAX).join("");
}

export const tossConnector: ConnectorFactory<typeof TossSettingsSchema> = {
  pg: PG,
  settingsSchema: TossSettingsSchema,
  // A PAYMENT_STATUS_CHANGED carries one Payment object (a few KiB); a DEPOSIT_CALLBACK is smaller.
  maxWebhookBytes: 64 * 1024,
  capabilities: TOSS_CAPABILITIES,
  create: (settings, context) => new TossConnector(settings, context.tenant, context.deps),
  migrations: tossMigrations,
  registerRoutes,
};
