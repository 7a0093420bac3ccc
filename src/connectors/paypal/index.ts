/**
 * PayPal Checkout over the Orders v2 and Payments v2 REST APIs (PayPal's Node SDK adds nothing PGB
 * needs). PayStart creates an order (intent CAPTURE, PGB's payment id as custom_id and invoice_id)
 * and answers its approval link; the buyer approves on PayPal and comes back to PGB's return URL,
 * where PGB captures the order and reads the capture. A buyer who approves and never comes back is
 * captured from the CHECKOUT.ORDER.APPROVED webhook or by the reconciler (needsCompletion). Refunds
 * go against the capture. PGB's pgTransactionId for a PayPal payment is the order id.
 *
 * By concern: settings.ts, capabilities.ts, wire.ts (PayPal's shapes), the pure mappings in
 * payment-transformers.ts (amounts, statuses), error-transformers.ts (PayPal's error meanings) and
 * webhook-transformers.ts (event references, the signature check), client.ts (token and HTTP), webhooks.ts
 * (verification), store.ts (orders PGB closed); this file is the connector.
 */
import { createHash } from "node:crypto";
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
  type WebhookInput,
} from "../../core/ports/connector.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { ConnectorDeps, ConnectorFactory } from "../factory.ts";
import { PAYPAL_CAPABILITIES } from "./capabilities.ts";
import { PayPalApi } from "./client.ts";
import { PayPalSettingsSchema, type PayPalSettings } from "./settings.ts";
import { ClosedOrders, paypalMigrations, type PayPalTables } from "./store.ts";
import { approvalLink, fromPayPalAmount, orderCapture, pgPaymentFromOrder, refundOutcome, toPayPalAmount } from "./payment-transformers.ts";
import { verifyWebhook } from "./webhooks.ts";
import { PayPalCaptureSchema, PayPalOrderCreatedSchema, PayPalOrderSchema, PayPalRefundSchema, type PayPalOrder, type PayPalRefund } from "./wire.ts";
import { brand, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

export const PAYPAL_PG = "PAYPAL";
/** PayPal's limit on description, custom_id, invoice_id and note_to_payer. */
const TEXT_MAX = 127;
/** PayPal's events carry one order, capture or refund: a few KiB. */
const WEBHOOK_BODY_LIMIT = 64 * 1024;

const enc = encodeURIComponent;

function isError(error: unknown, errorClass?: ConnectorError["errorClass"], pgCode?: string): error is ConnectorError {
  return error instanceof ConnectorError && (errorClass === undefined || error.errorClass === errorClass) && (pgCode === undefined || error.pgCode === pgCode);
}

class PayPalConnector implements Connector {
  readonly pg = PAYPAL_PG;
  readonly #settings: PayPalSettings;
  readonly #tenant: string;
  readonly #api: PayPalApi;
  readonly #closed: ClosedOrders;
  readonly #logger: Logger;
  readonly #clock: Clock;

  constructor(settings: PayPalSettings, tenant: string, deps: ConnectorDeps) {
    this.#settings = settings;
    this.#tenant = tenant;
    this.#logger = deps.logger.child({ pg: PAYPAL_PG, tenant });
    this.#api = new PayPalApi(settings, this.#logger, deps.pgCallMetrics, deps.clock);
    this.#closed = new ClosedOrders(deps.storage.forTables<PayPalTables>());
    this.#clock = deps.clock;
  }

  async createCheckout(input: CheckoutInput): Promise<CheckoutCreated> {
    const cancelUrl = new URL(input.returnUrl);
    cancelUrl.searchParams.set("cancelled", "1");
    const body = {
      intent: "CAPTURE",
      purchase_units: [
        {
          reference_id: "default",
          amount: toPayPalAmount(input.amount),
          // PGB's payment id twice: custom_id comes back on captures and webhooks; a unique
          // invoice_id makes PayPal refuse a second capture for the same payment.
          custom_id: input.paymentId.slice(0, TEXT_MAX),
          invoice_id: input.paymentId.slice(0, TEXT_MAX),
          description: input.description.slice(0, TEXT_MAX) || "Order",
        },
      ],
      payment_source: {
        paypal: {
          experience_context: {
            return_url: input.returnUrl,
            cancel_url: cancelUrl.toString(),
            user_action: "PAY_NOW",
            shipping_preference: "NO_SHIPPING",
            ...(this.#settings.brandName !== undefined ? { brand_name: this.#settings.brandName } : {}),
          },
        },
      },
    };
    const order = await this.#api.request(
      { method: "POST", path: "/v2/checkout/orders", operation: "create order", json: body, idempotencyKey: input.idempotencyKey },
      PayPalOrderCreatedSchema,
    );
    const checkoutUrl = approvalLink(order.links);
    if (checkoutUrl === undefined) {
      // Only a replay of a key whose order was since approved or completed answers without one.
      throw new ConnectorError("declined", `PayPal order ${order.id} is ${order.status}, no longer awaiting the buyer`, "ORDER_NOT_OPEN");
    }
    return { pgTransactionId: brand<PgTransactionId>(order.id), checkoutUrl };
  }

  async parseWebhook(input: WebhookInput): Promise<WebhookAction> {
    const verified = await verifyWebhook(input, { ...this.#settings, timeoutMs: Math.min(this.#settings.timeoutMs, 5_000) }, this.#clock.now());
    if (verified.captureId === undefined || verified.action.kind !== "refund") return verified.action;
    // A refund or reversal names only its capture: its order is PGB's transaction id.
    const capture = await this.#api.request(
      { method: "GET", path: `/v2/payments/captures/${enc(verified.captureId)}`, operation: "capture" },
      PayPalCaptureSchema,
    );
    const orderId = capture.supplementary_data?.related_ids?.order_id;
    return {
      ...verified.action,
      ...(orderId !== undefined ? { pgTransactionId: brand<PgTransactionId>(orderId) } : {}),
      ...(verified.action.paymentReference === undefined && capture.custom_id !== undefined ? { paymentReference: brand<PaymentId>(capture.custom_id) } : {}),
    };
  }

  async fetchPayment(ref: PaymentRef): Promise<PgPayment> {
    return this.#toPgPayment(await this.#order(ref.pgTransactionId));
  }

  /**
   * The buyer is back (approved, cancelled, or anyone calling the URL): nothing in the query is
   * believed. An approved order that is PGB's, for the amount PGB asked, and that PGB has not
   * closed, is captured; whatever happened, PayPal's record answers.
   */
  async handleReturn(input: ReturnInput): Promise<PgPayment> {
    const orderId = input.pgTransactionId;
    if (orderId === null) throw new ConnectorError("fatal", "a PayPal payment without its order id", "ORDER_ID_MISSING");
    const order = await this.#order(orderId);
    const current = await this.#toPgPayment(order);
    if (orderCapture(order) !== undefined || current.status === "EXPIRED") return current;
    if (order.status !== "APPROVED") {
      // Back from PayPal (not by Cancel) with an order awaiting the buyer again: a webhook's capture
      // found the instrument declined first. PayPal's recovery is the same: back to its page.
      const resumeUrl = input.query.cancelled === "1" ? undefined : approvalLink(order.links ?? []);
      return resumeUrl === undefined ? current : { ...current, resumeUrl };
    }
    const unit = order.purchase_units[0]!;
    if (
      unit.custom_id !== input.paymentReference ||
      fromPayPalAmount(unit.amount).minor !== input.amount.minor ||
      unit.amount.currency_code !== input.amount.currency
    ) {
      // Not the order PGB created for this payment: the core sees the mismatch in the answer.
      return current;
    }
    return this.#capture(order, input.paymentReference);
  }

  /**
   * Captures once. The PayPal-Request-Id is the order's and its last change's, so a browser return
   * and a webhook racing each other send one capture, while a buyer who approved again after a
   * decline gets a fresh attempt. A lost answer is settled by reading the order.
   */
  async #capture(order: PayPalOrder, paymentReference: string): Promise<PgPayment> {
    const key = `capture-${order.id}-${createHash("sha256")
      .update(order.update_time ?? "")
      .digest("hex")
      .slice(0, 16)}`;
    try {
      const captured = await this.#api.request(
        { method: "POST", path: `/v2/checkout/orders/${enc(order.id)}/capture`, operation: "capture", json: {}, idempotencyKey: key },
        PayPalOrderSchema,
      );
      return this.#toPgPayment(captured);
    } catch (error) {
      if (!isError(error)) throw error;
      // ORDER_NOT_APPROVED here: a capture racing this one (the webhook's) met the decline first.
      if (
        error.pgCode === "INSTRUMENT_DECLINED" ||
        error.pgCode === "PAYER_ACTION_REQUIRED" ||
        error.pgCode === "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING" ||
        error.pgCode === "ORDER_NOT_APPROVED"
      ) {
        // PayPal's recovery: the buyer goes back to the approval page and chooses another way to pay.
        const again = await this.#order(order.id);
        if (orderCapture(again) !== undefined) return this.#toPgPayment(again);
        const resumeUrl = approvalLink(again.links ?? []);
        if (resumeUrl === undefined) throw error;
        this.#logger.info({ paymentReference, pgCode: error.pgCode }, "PayPal wants the buyer back to choose another way to pay; sending the buyer there");
        return { ...(await this.#toPgPayment(again)), resumeUrl };
      }
      if (error.errorClass === "declined" && error.pgCode !== "ORDER_ALREADY_CAPTURED") throw error;
      // Captured already, in progress, or the answer was lost: PayPal's order says which.
      let now: PayPalOrder;
      try {
        now = await this.#order(order.id);
      } catch {
        throw error;
      }
      if (orderCapture(now) === undefined) throw error;
      return this.#toPgPayment(now);
    }
  }

  async refund(input: RefundInput): Promise<RefundOutcome> {
    const captureId = await this.#captureIdOf(input);
    if (captureId === undefined) throw new ConnectorError("declined", `PayPal order ${input.pgTransactionId} has no capture to refund`, "NO_CAPTURE");
    return refundOutcome(await this.#sendRefund(captureId, input));
  }

  async #sendRefund(
    captureId: string,
    input: Pick<RefundInput, "amount" | "idempotencyKey" | "paymentReference"> & { reason?: string },
  ): Promise<PayPalRefund> {
    const body = {
      amount: toPayPalAmount(input.amount),
      // The refund row's id: how PGB tells its own refunds from a dispute's or the dashboard's.
      invoice_id: input.idempotencyKey.slice(0, TEXT_MAX),
      // PGB's payment id, so the refund's webhook names the payment.
      custom_id: input.paymentReference.slice(0, TEXT_MAX),
      ...(input.reason ? { note_to_payer: input.reason.slice(0, 255) } : {}),
    };
    return this.#api.request(
      { method: "POST", path: `/v2/payments/captures/${enc(captureId)}/refund`, operation: "refund", json: body, idempotencyKey: input.idempotencyKey },
      PayPalRefundSchema,
    );
  }

  /**
   * A refund whose outcome PGB does not know. By its id when PayPal gave one; else from the order's
   * list of refunds (PGB's carry its refund id as invoice_id); else the refund is sent again with
   * the same PayPal-Request-Id, which PayPal answers with the first call's refund if it made one.
   * Never NOT_FOUND for a captured order: a refund PayPal is still making could appear later.
   */
  async lookupRefund(ref: RefundRef): Promise<RefundLookup> {
    if (ref.pgRefundId !== undefined) {
      return refundOutcome(
        await this.#api.request({ method: "GET", path: `/v2/payments/refunds/${enc(ref.pgRefundId)}`, operation: "refund" }, PayPalRefundSchema),
      );
    }
    const order = await this.#order(ref.pgTransactionId);
    const capture = orderCapture(order);
    if (capture === undefined) return { status: "NOT_FOUND" };
    const listed = order.purchase_units[0]!.payments?.refunds?.find((refund) => refund.invoice_id === ref.idempotencyKey);
    const refund = listed ?? (await this.#sendRefund(capture.id, ref));
    if (refund.amount !== undefined && fromPayPalAmount(refund.amount).minor !== ref.amount.minor) {
      throw new ConnectorError("fatal", `PayPal refund ${refund.id} is not for the amount PGB sent with key ${ref.idempotencyKey}`, "REFUND_AMOUNT_DIFFERS");
    }
    return refundOutcome(refund);
  }

  /** Every refund and reversal of the order's capture, as PayPal lists them on the order. */
  async listRefunds(ref: PaymentRef): Promise<PgRefund[]> {
    const order = await this.#order(ref.pgTransactionId);
    const refunds = order.purchase_units[0]!.payments?.refunds ?? [];
    return refunds.flatMap((refund): PgRefund[] => {
      if (refund.amount === undefined) return [];
      const outcome = refundOutcome(refund);
      return [
        {
          pgRefundId: refund.id,
          amount: fromPayPalAmount(refund.amount),
          status: outcome.status,
          ...(outcome.status === "FAILED" ? { failure: { code: outcome.code, message: outcome.message } } : {}),
          ...(refund.invoice_id !== undefined ? { pgbRefundId: refund.invoice_id } : {}),
        },
      ];
    });
  }

  /** PayPal cannot void an order with intent CAPTURE: PGB remembers it closed it and never captures it. */
  async expireCheckout(ref: CheckoutRef): Promise<void> {
    await this.#closed.close({ orderId: ref.pgTransactionId, tenant: this.#tenant, paymentReference: ref.paymentReference });
  }

  async #order(orderId: string): Promise<PayPalOrder> {
    return this.#api.request({ method: "GET", path: `/v2/checkout/orders/${enc(orderId)}`, operation: "order" }, PayPalOrderSchema);
  }

  async #captureIdOf(ref: PaymentRef): Promise<string | undefined> {
    const stored = ref.details?.captureId;
    if (typeof stored === "string" && stored !== "") return stored;
    return orderCapture(await this.#order(ref.pgTransactionId))?.id;
  }

  /** The order as PGB's PgPayment: an order PGB closed is EXPIRED, an approved one needs PGB's capture. */
  async #toPgPayment(order: PayPalOrder): Promise<PgPayment> {
    const payment = pgPaymentFromOrder(order);
    if (orderCapture(order)?.status === "PENDING") return { ...payment, settling: true };
    if (orderCapture(order) !== undefined || payment.status !== "PENDING") return payment;
    if (await this.#closed.isClosed(order.id)) {
      return { ...payment, status: "EXPIRED", failure: { code: "CHECKOUT_EXPIRED", message: "PGB closed this checkout before it was captured" } };
    }
    return order.status === "APPROVED" ? { ...payment, needsCompletion: true } : payment;
  }
}

export const paypalConnector: ConnectorFactory<typeof PayPalSettingsSchema> = {
  pg: PAYPAL_PG,
  settingsSchema: PayPalSettingsSchema,
  maxWebhookBytes: WEBHOOK_BODY_LIMIT,
  capabilities: PAYPAL_CAPABILITIES,
  migrations: paypalMigrations,
  create(settings, context) {
    return new PayPalConnector(settings, context.tenant, context.deps);
  },
};
