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
 * page.ts and routes.ts (the checkout page), webhooks.ts, capabilities.ts; this file is the connector.
 */
import type { Logger } from "pino";
import { assertUnreachable } from "../../core/errors.ts";
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
  type WebhookAction,
  type WebhookInput,
} from "../../core/ports/connector.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { type ConnectorDeps, type ConnectorFactory } from "../factory.ts";
import {
  confirmIdempotencyKey,
  methodOf,
  moneyToWon,
  readDetails,
  refundOutcomeOf,
  returnAmountMatches,
  sdkMethodFor,
  successReturnParams,
  toPgPayment,
  tossOrderIdFor,
} from "./transformers.ts";
import { type TossCancelRequest, type TossConfirmRequest, type TossPayment } from "./wire.ts";
import { TOSS_CAPABILITIES } from "./capabilities.ts";
import { TossApi } from "./client.ts";
import { parseTossWebhook } from "./webhooks.ts";
import { registerRoutes } from "./routes.ts";
import { TossSettingsSchema, type TossSettings } from "./settings.ts";
import { CancelLedger, CheckoutStore, tossMigrations, type CancelRow, type CheckoutRow, type TossTables } from "./store.ts";
import { provisionalPgTransactionId, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

const PG = "TOSS";
/** Toss's orderName limit. */
const ORDER_NAME_MAX = 100;
const CANCEL_REASON_MAX = 200;
/** Toss remembers an Idempotency-Key for 15 days; a day's margin. */
const IDEMPOTENCY_WINDOW_MS = 14 * 24 * 3_600_000;

// ---------------------------------------------------------------------------------------------

function isConnectorError(error: unknown): error is ConnectorError {
  return error instanceof ConnectorError;
}

const enc = encodeURIComponent;

class TossConnector implements Connector {
  readonly pg = PG;
  readonly #tenant: string;
  readonly #api: TossApi;
  readonly #store: CheckoutStore;
  readonly #cancels: CancelLedger;
  readonly #publicUrl: string;
  readonly #logger: Logger;
  readonly #clock: Clock;

  constructor(settings: TossSettings, tenant: string, deps: ConnectorDeps) {
    this.#tenant = tenant;
    this.#logger = deps.logger.child({ pg: PG, tenant });
    this.#api = new TossApi(settings, this.#logger, deps.pgCallMetrics);
    const storage = deps.storage.forTables<TossTables>();
    this.#store = new CheckoutStore(storage);
    this.#cancels = new CancelLedger(storage);
    this.#publicUrl = deps.publicUrl.replace(/\/+$/, "");
    this.#clock = deps.clock;
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

  async refund(input: RefundInput): Promise<RefundOutcome> {
    if (input.amount.currency !== "KRW") {
      throw new ConnectorError("fatal", `Toss refunds in KRW; this refund is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
    }
    // A retry (the core's, or the reconciler's without the refund account) resends the first request.
    const earlier = await this.#cancels.find(input.idempotencyKey);
    if (earlier !== undefined) return this.#resume(earlier, "refund");

    const row = await this.#store.find(input.paymentReference);
    const tossOrderId = row?.tossOrderId ?? tossOrderIdFor(input.paymentReference);
    let paymentKey = paymentKeyOf(input, row);
    let method = readDetails(input.details).method;
    if (paymentKey === undefined || method === undefined) {
      const current = await this.#api.get(paymentKey !== undefined ? `/v1/payments/${enc(paymentKey)}` : `/v1/payments/orders/${enc(tossOrderId)}`);
      assertOurs(current, tossOrderId);
      paymentKey = current.paymentKey;
      method = methodOf(current);
    }
    // Money deposited into a virtual account can only go back to a bank account the customer names.
    if (method === "VIRTUAL_ACCOUNT" && input.refundAccount === undefined) {
      throw new ConnectorError(
        "declined",
        "A paid virtual account is refunded into the customer's own bank account: send the refund account (bank, account number, holder name) with the cancel.",
        "REFUND_ACCOUNT_REQUIRED",
      );
    }
    const request: TossCancelRequest = {
      cancelReason: (input.reason.trim() || "Refund requested by the merchant").slice(0, CANCEL_REASON_MAX),
      cancelAmount: moneyToWon(input.amount),
    };
    if (input.refundAccount !== undefined) {
      request.refundReceiveAccount = {
        bank: input.refundAccount.bank.trim(),
        // Toss takes digits only; hosts often keep the hyphens banks print.
        accountNumber: input.refundAccount.accountNumber.replace(/[\s-]/g, ""),
        holderName: input.refundAccount.holderName.trim(),
      };
    }
    const sent = await this.#cancels.begin({
      idempotencyKey: input.idempotencyKey,
      tenant: this.#tenant,
      paymentReference: input.paymentReference,
      paymentKey,
      amount: input.amount,
      request,
    });
    return this.#resume(sent, "refund");
  }

  /**
   * For the reconciler: what became of the cancel sent under `idempotencyKey`. Never sent (no row:
   * rows are written before the call) → NOT_FOUND; outcome known → that; unknown → the stored
   * request is sent again under the same key, which Toss answers without cancelling twice.
   */
  async lookupRefund(ref: {
    pgTransactionId: string;
    paymentReference: string;
    idempotencyKey: string;
    pgRefundId?: string;
    amount: Money;
  }): Promise<RefundLookup> {
    const row = await this.#cancels.find(ref.idempotencyKey);
    if (row === undefined) return { status: "NOT_FOUND" };
    return this.#resume(row, "lookup");
  }

  async #resume(row: CancelRow, purpose: "refund" | "lookup"): Promise<RefundOutcome> {
    switch (row.status) {
      case "DONE":
        return { status: "SUCCEEDED", pgRefundId: row.transactionKey ?? row.idempotencyKey };
      case "FAILED": {
        const code = row.failureCode ?? "DECLINED";
        const message = row.failureMessage ?? "Toss refused this cancel.";
        // The first answer was a refusal; a refund call repeats it the way it came, a lookup as data.
        if (purpose === "refund") throw new ConnectorError("declined", message, code);
        return { status: "FAILED", ...(row.transactionKey ? { pgRefundId: row.transactionKey } : {}), code, message };
      }
      case "PENDING": {
        const payment = await this.#api.get(`/v1/payments/${enc(row.paymentKey)}`);
        const cancel = (payment.cancels ?? []).find((c) => c.transactionKey === row.transactionKey);
        const outcome = cancel === undefined ? undefined : refundOutcomeOf({ ...payment, cancels: [cancel] });
        if (outcome === undefined) return { status: "PENDING", pgRefundId: row.transactionKey ?? row.idempotencyKey };
        if (outcome.status !== "PENDING") await this.#cancels.settle(row.idempotencyKey, outcome);
        return outcome;
      }
      case "SENT":
        return this.#send(row, purpose);
      default:
        return assertUnreachable(row.status);
    }
  }

  async #send(row: CancelRow, purpose: "refund" | "lookup"): Promise<RefundOutcome> {
    if (row.request === null) throw new ConnectorError("fatal", "a cancel whose outcome is unknown lost its stored request", "CANCEL_REQUEST_LOST");
    // Past Toss's 15-day idempotency window a resend would be a second cancel: a person decides.
    if (this.#clock.nowMs() - row.createdAt.getTime() > IDEMPOTENCY_WINDOW_MS) {
      throw new ConnectorError(
        "fatal",
        "the cancel's outcome is unknown and Toss no longer remembers its Idempotency-Key; check Toss's console",
        "IDEMPOTENCY_WINDOW_PASSED",
      );
    }
    let payment: TossPayment;
    try {
      payment = await this.#api.post(`/v1/payments/${enc(row.paymentKey)}/cancel`, row.request, row.idempotencyKey);
    } catch (error) {
      if (isConnectorError(error) && error.errorClass === "declined") {
        const failed: RefundOutcome = { status: "FAILED", code: error.pgCode ?? "DECLINED", message: error.pgMessage ?? error.message };
        await this.#cancels.settle(row.idempotencyKey, failed);
        if (purpose === "lookup") return failed;
      }
      throw error;
    }
    assertOurs(payment, tossOrderIdFor(row.paymentReference));
    const outcome = refundOutcomeOf(payment);
    if (outcome === undefined) throw new ConnectorError("indeterminate", "Toss answered the cancel without any cancel entry", undefined, 200);
    await this.#cancels.settle(row.idempotencyKey, outcome);
    return outcome;
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

/** Where a payment is addressed at Toss: the paymentKey once known, from whichever source has it. */
function paymentKeyOf(
  ref: { pgTransactionId: string; paymentReference: string; details?: Record<string, unknown> },
  row: CheckoutRow | undefined,
): string | undefined {
  const fromDetails = readDetails(ref.details).paymentKey;
  if (fromDetails !== undefined) return fromDetails;
  if (ref.pgTransactionId !== "" && ref.pgTransactionId !== ref.paymentReference) return ref.pgTransactionId;
  return row?.paymentKey ?? undefined;
}

/** A paymentKey from a browser or a stale record must not let one order read or refund another. */
function assertOurs(payment: TossPayment, tossOrderId: string): void {
  if (payment.orderId !== tossOrderId) {
    throw new ConnectorError("fatal", "Toss returned a payment of another order for this paymentKey", "ORDER_ID_MISMATCH");
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
