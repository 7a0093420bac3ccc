/**
 * Pure mappings between PGB's types and Stripe's wire objects: amounts, the session to create, the
 * status table, refund outcomes and webhook events. No I/O here, so every table is unit-tested.
 */
import type Stripe from "stripe";
import { currencyExponent, isCurrencyCode } from "../../core/currency.ts";
import { assertUnreachable } from "../../core/errors.ts";
import type { Money } from "../../core/money.ts";
import {
  ConnectorError,
  type CheckoutInput,
  type PgPayment,
  type PgPaymentStatus,
  type PgRefund,
  type RefundInput,
  type RefundOutcome,
  type WebhookAction,
} from "../../core/ports/connector.ts";
import {
  PGB_METADATA,
  StripeChargeReferenceSchema,
  StripeRefundReferenceSchema,
  StripeSessionReferenceSchema,
  type StripeCharge,
  type StripeCheckoutSession,
  type StripeEvent,
  type StripeMetadata,
  type StripePaymentIntent,
  type StripePaymentIntentStatus,
  type StripeRefund,
  type StripeSessionPaymentStatus,
} from "./wire.ts";
import { brand, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

/**
 * Currencies Stripe takes in whole units (docs.stripe.com/currencies). Every other currency PGB
 * sells in is two-decimal at Stripe. Kept as Stripe's own list, not derived from PGB's exponents, so
 * a currency added to PGB is checked against Stripe's rule rather than assumed.
 */
export const STRIPE_ZERO_DECIMAL_CURRENCIES: ReadonlySet<string> = new Set([
  "BIF",
  "CLP",
  "DJF",
  "GNF",
  "JPY",
  "KMF",
  "KRW",
  "MGA",
  "PYG",
  "RWF",
  "UGX",
  "VND",
  "VUV",
  "XAF",
  "XOF",
  "XPF",
]);

/** Decimal places of Stripe's unit for `currency` (ISO code, any case). */
export function stripeExponent(currency: string): number {
  return STRIPE_ZERO_DECIMAL_CURRENCIES.has(currency.toUpperCase()) ? 0 : 2;
}

/** PGB minor units → Stripe's integer amount. Throws (fatal) if the amount cannot be exact. */
export function toStripeAmount(money: Money): number {
  const shift = stripeExponent(money.currency) - currencyExponent(money.currency);
  let units = money.minor;
  if (shift > 0) units *= 10n ** BigInt(shift);
  if (shift < 0) {
    const scale = 10n ** BigInt(-shift);
    if (units % scale !== 0n) throw new ConnectorError("fatal", `${money.minor} minor units of ${money.currency} cannot be expressed in Stripe's unit`);
    units /= scale;
  }
  if (units < 0n || units > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ConnectorError("fatal", `amount ${money.minor} ${money.currency} is out of Stripe's range`);
  return Number(units);
}

/** Stripe's integer amount + lowercase currency → PGB Money. Throws (fatal) for a currency PGB does not know. */
export function fromStripeAmount(amount: number, stripeCurrency: string): Money {
  const currency = stripeCurrency.toUpperCase();
  if (!isCurrencyCode(currency)) throw new ConnectorError("fatal", `Stripe answered in ${currency}, a currency PGB does not settle in`);
  if (!Number.isSafeInteger(amount) || amount < 0) throw new ConnectorError("fatal", `Stripe answered an amount that is not a whole number of units`);
  const shift = currencyExponent(currency) - stripeExponent(currency);
  let minor = BigInt(amount);
  if (shift > 0) minor *= 10n ** BigInt(shift);
  if (shift < 0) {
    const scale = 10n ** BigInt(-shift);
    if (minor % scale !== 0n) throw new ConnectorError("fatal", `Stripe's ${amount} ${currency} is finer than PGB's unit`);
    minor /= scale;
  }
  return { minor, currency };
}

const MIN_EXPIRY_SECONDS = 30 * 60;
const MAX_EXPIRY_SECONDS = 24 * 60 * 60;
/** Room for clock skew and transit: Stripe measures the window from its own receipt of the call. */
const EXPIRY_MARGIN_SECONDS = 60;

/**
 * The `expires_at` to send, or undefined for Stripe's default (24 h). Stripe only accepts 30 min–24 h
 * after creation. The answer must not drift between retries of one PayStart (the idempotency key
 * makes Stripe compare the parameters), so a too-early expiry is pushed by a fixed 30 min from
 * `expiresAt` itself rather than recomputed from `now`; PGB still expires the checkout at its own
 * deadline through expireCheckout.
 */
export function checkoutExpiresAt(expiresAt: Date, now: Date): number | undefined {
  const wanted = Math.floor(expiresAt.getTime() / 1000);
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (wanted - nowSeconds > MAX_EXPIRY_SECONDS - EXPIRY_MARGIN_SECONDS) return undefined;
  if (wanted - nowSeconds < MIN_EXPIRY_SECONDS + EXPIRY_MARGIN_SECONDS) return Math.max(wanted, nowSeconds) + MIN_EXPIRY_SECONDS + EXPIRY_MARGIN_SECONDS;
  return wanted;
}

/** Appends a query string to PGB's return URL. The placeholder must stay literal: Stripe substitutes it. */
export function withQuery(url: string, query: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${query}`;
}

export function pgbMetadata(input: Pick<CheckoutInput, "paymentId" | "tenant" | "orderId">): Record<string, string> {
  return {
    [PGB_METADATA.paymentId]: input.paymentId,
    [PGB_METADATA.tenant]: input.tenant,
    [PGB_METADATA.orderId]: String(input.orderId),
  };
}

/** The Checkout Session for one PayStart attempt. */
export function toSessionCreateParams(input: CheckoutInput, now: Date): Stripe.Checkout.SessionCreateParams {
  const metadata = pgbMetadata(input);
  const expiresAt = checkoutExpiresAt(input.expiresAt, now);
  const name = input.description.trim() === "" ? `Order ${input.orderId}` : input.description.trim().slice(0, 250);
  return {
    mode: "payment",
    line_items: [
      {
        quantity: 1,
        price_data: { currency: input.amount.currency.toLowerCase(), unit_amount: toStripeAmount(input.amount), product_data: { name } },
      },
    ],
    client_reference_id: input.paymentId,
    metadata,
    // Copied onto the PaymentIntent (and from there its charge), so refund events name the payment too.
    payment_intent_data: { metadata },
    success_url: withQuery(input.returnUrl, "session_id={CHECKOUT_SESSION_ID}"),
    cancel_url: withQuery(input.returnUrl, "cancelled=1"),
    ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
  };
}

/**
 * The refund for one PGB refund row. Everything here derives from the row (no free text), so the
 * reconciler can resend exactly the same parameters under the same idempotency key.
 */
export function toRefundCreateParams(
  input: Pick<RefundInput, "amount" | "idempotencyKey" | "paymentReference">,
  paymentIntentId: string,
  tenant: string,
): Stripe.RefundCreateParams {
  return {
    payment_intent: paymentIntentId,
    amount: toStripeAmount(input.amount),
    reason: "requested_by_customer",
    metadata: {
      [PGB_METADATA.paymentId]: input.paymentReference,
      [PGB_METADATA.refundId]: input.idempotencyKey,
      [PGB_METADATA.tenant]: tenant,
    },
  };
}

/** The payment's status from the session (primary) and its PaymentIntent and charge (details). */
export function toPgPaymentStatus(session: StripeCheckoutSession, intent: StripePaymentIntent | null): PgPaymentStatus {
  const status = session.status ?? "other";
  switch (status) {
    case "open":
      return "PENDING";
    case "expired":
      return "EXPIRED";
    case "complete":
      return completedSessionStatus(session, session.payment_status, intent);
    case "other":
      return "PENDING";
    default:
      return assertUnreachable(status);
  }
}

function completedSessionStatus(
  session: StripeCheckoutSession,
  paymentStatus: StripeSessionPaymentStatus,
  intent: StripePaymentIntent | null,
): PgPaymentStatus {
  switch (paymentStatus) {
    case "paid": {
      if (intent === null) return "PAID";
      // A paid session whose PaymentIntent disagrees is contradictory: wait rather than complete.
      if (intent.status !== "succeeded" || intent.amount_received !== session.amount_total || intent.currency !== session.currency) return "PENDING";
      return refundedStatus(chargeOf(intent));
    }
    case "unpaid":
      // Complete but unpaid: a delayed method (bank debit, transfer) whose outcome comes later.
      return intent === null ? "PENDING" : unpaidIntentStatus(intent.status);
    case "no_payment_required":
    case "other":
      return "PENDING";
    default:
      return assertUnreachable(paymentStatus);
  }
}

function unpaidIntentStatus(status: StripePaymentIntentStatus): PgPaymentStatus {
  switch (status) {
    // After a delayed payment fails Stripe returns the intent to requires_payment_method; a completed
    // session offers no retry, so that is final.
    case "requires_payment_method":
    case "canceled":
      return "FAILED";
    case "processing":
    case "requires_confirmation":
    case "requires_action":
    case "requires_capture":
    // Succeeded while the session still says unpaid: Stripe has not caught up; ask again later.
    case "succeeded":
    case "other":
      return "PENDING";
    default:
      return assertUnreachable(status);
  }
}

function refundedStatus(charge: StripeCharge | null): PgPaymentStatus {
  if (charge === null || charge.amount_refunded === 0) return "PAID";
  return charge.amount_refunded >= charge.amount ? "REFUNDED" : "PARTIALLY_REFUNDED";
}

function chargeOf(intent: StripePaymentIntent | null): StripeCharge | null {
  const charge = intent?.latest_charge;
  return charge !== undefined && charge !== null && typeof charge !== "string" ? charge : null;
}

export function paymentIntentIdOf(session: StripeCheckoutSession): string | null {
  const intent = session.payment_intent;
  if (intent === null) return null;
  return typeof intent === "string" ? intent : intent.id;
}

export function paymentReferenceOf(metadata: StripeMetadata | null | undefined, clientReferenceId: string | null | undefined): string | undefined {
  return metadata?.[PGB_METADATA.paymentId] ?? clientReferenceId ?? undefined;
}

/** The session plus its PaymentIntent (with latest_charge expanded) → what PGB's core compares. */
export function toPgPayment(session: StripeCheckoutSession, intent: StripePaymentIntent | null): PgPayment {
  if (session.amount_total === null || session.currency === null) {
    throw new ConnectorError("fatal", `Stripe session ${session.id} has no amount; PGB creates payment-mode sessions only`);
  }
  const status = toPgPaymentStatus(session, intent);
  const charge = chargeOf(intent);
  const payment: PgPayment = {
    pgTransactionId: brand<PgTransactionId>(session.id),
    status,
    amount: fromStripeAmount(session.amount_total, session.currency),
    paymentReference: paymentReferenceOf(session.metadata, session.client_reference_id) ?? "",
    details: {
      ...(intent === null ? {} : { paymentIntentId: intent.id, paymentIntentStatus: intent.status }),
      ...(charge === null ? {} : { chargeId: charge.id, amountRefunded: charge.amount_refunded }),
    },
  };
  if (status === "FAILED" && intent !== null) {
    const error = intent.last_payment_error;
    payment.failure = {
      code: error?.decline_code ?? error?.code ?? (intent.status === "canceled" ? "payment_intent_canceled" : "payment_failed"),
      message: error?.message ?? "Stripe reports the payment failed",
    };
  }
  return payment;
}

export function toRefundOutcome(refund: StripeRefund): RefundOutcome {
  const status = refund.status ?? "other";
  switch (status) {
    case "succeeded":
      return { status: "SUCCEEDED", pgRefundId: refund.id };
    // requires_action: the customer must give bank details; Stripe finishes (or fails) it later.
    case "pending":
    case "requires_action":
    case "other":
      return { status: "PENDING", pgRefundId: refund.id };
    case "failed":
    case "canceled":
      return {
        status: "FAILED",
        pgRefundId: refund.id,
        code: refund.failure_reason ?? status,
        message: `Stripe reports the refund ${status}${refund.failure_reason ? ` (${refund.failure_reason})` : ""}`,
      };
    default:
      return assertUnreachable(status);
  }
}

/** One of the intent's refunds as the core compares it with its own rows (pgbRefundId: PGB sent it). */
export function toPgRefund(refund: StripeRefund): PgRefund {
  const outcome = toRefundOutcome(refund);
  const pgbRefundId = refund.metadata?.[PGB_METADATA.refundId];
  return {
    pgRefundId: refund.id,
    amount: fromStripeAmount(refund.amount, refund.currency),
    status: outcome.status,
    ...(outcome.status === "FAILED" ? { failure: { code: outcome.code, message: outcome.message } } : {}),
    ...(pgbRefundId === undefined ? {} : { pgbRefundId }),
  };
}

export const PAYMENT_EVENT_TYPES: ReadonlySet<string> = new Set([
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "checkout.session.expired",
]);
export const REFUND_EVENT_TYPES: ReadonlySet<string> = new Set(["charge.refunded", "refund.updated", "refund.failed", "charge.refund.updated"]);

/**
 * A verified event → the action the core takes. Only references cross: the core re-reads the
 * session from Stripe before any transition, so nothing in the body decides an outcome.
 */
export function toWebhookAction(event: StripeEvent, tenant: string): WebhookAction {
  const eventId = event.id;
  if (PAYMENT_EVENT_TYPES.has(event.type)) {
    const parsed = StripeSessionReferenceSchema.safeParse(event.data.object);
    if (!parsed.success) return { kind: "rejected", reason: `${event.type} does not carry a checkout.session` };
    const session = parsed.data;
    const foreign = foreignTenant(session.metadata, tenant);
    if (foreign !== undefined) return { kind: "ignored", eventId, reason: foreign };
    const paymentReference = paymentReferenceOf(session.metadata, session.client_reference_id);
    if (paymentReference === undefined) return { kind: "ignored", eventId, reason: "the session was not created by PGB" };
    return { kind: "payment", eventId, pgTransactionId: brand<PgTransactionId>(session.id), paymentReference: brand<PaymentId>(paymentReference) };
  }
  if (event.type === "charge.refunded") {
    const parsed = StripeChargeReferenceSchema.safeParse(event.data.object);
    if (!parsed.success) return { kind: "rejected", reason: "charge.refunded does not carry a charge" };
    return refundAction(eventId, parsed.data.metadata, tenant, undefined);
  }
  if (REFUND_EVENT_TYPES.has(event.type)) {
    const parsed = StripeRefundReferenceSchema.safeParse(event.data.object);
    if (!parsed.success) return { kind: "rejected", reason: `${event.type} does not carry a refund` };
    return refundAction(eventId, parsed.data.metadata, tenant, parsed.data.id);
  }
  return { kind: "ignored", eventId, reason: `PGB does not act on ${event.type}` };
}

function refundAction(eventId: string, metadata: StripeMetadata | null | undefined, tenant: string, pgRefundId: string | undefined): WebhookAction {
  const foreign = foreignTenant(metadata, tenant);
  if (foreign !== undefined) return { kind: "ignored", eventId, reason: foreign };
  const paymentReference = metadata?.[PGB_METADATA.paymentId];
  if (paymentReference === undefined) return { kind: "ignored", eventId, reason: "the payment was not created by PGB" };
  return { kind: "refund", eventId, paymentReference: brand<PaymentId>(paymentReference), ...(pgRefundId === undefined ? {} : { pgRefundId }) };
}

/** Two tenants may share one Stripe account: an event another tenant's payment caused is not ours. */
function foreignTenant(metadata: StripeMetadata | null | undefined, tenant: string): string | undefined {
  const owner = metadata?.[PGB_METADATA.tenant];
  return owner !== undefined && owner !== tenant ? `the event belongs to tenant ${owner}` : undefined;
}
