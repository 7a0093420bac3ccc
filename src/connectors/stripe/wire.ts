/**
 * Stripe wire shapes PGB reads (Checkout Session, PaymentIntent, Charge, Refund, Event), as zod
 * schemas with the types inferred. Lenient about fields PGB never reads (Stripe adds fields with
 * every API version) and strict about the ones it decides on: ids, statuses, amounts, currency.
 *
 * Status enums are open: a value this code does not know parses as "other", so a new Stripe status
 * lands in the cautious branch of the mappings instead of failing the parse.
 */
import { z } from "zod";

/** A string enum that maps unknown values to "other" rather than rejecting them. */
function openEnum<const T extends readonly [string, ...string[]]>(values: T) {
  const known: readonly string[] = values;
  return z.string().transform((value): T[number] | "other" => (known.includes(value) ? (value as T[number]) : "other"));
}

/** Stripe amounts are integers in the currency's smallest unit. */
const stripeAmount = z.number().int().nonnegative();

export const StripeMetadataSchema = z.record(z.string(), z.string());
export type StripeMetadata = z.infer<typeof StripeMetadataSchema>;

export const STRIPE_SESSION_STATUSES = ["open", "complete", "expired"] as const;
export const StripeSessionStatusSchema = openEnum(STRIPE_SESSION_STATUSES);
export type StripeSessionStatus = z.infer<typeof StripeSessionStatusSchema>;

export const STRIPE_SESSION_PAYMENT_STATUSES = ["paid", "unpaid", "no_payment_required"] as const;
export const StripeSessionPaymentStatusSchema = openEnum(STRIPE_SESSION_PAYMENT_STATUSES);
export type StripeSessionPaymentStatus = z.infer<typeof StripeSessionPaymentStatusSchema>;

export const STRIPE_PAYMENT_INTENT_STATUSES = [
  "requires_payment_method",
  "requires_confirmation",
  "requires_action",
  "processing",
  "requires_capture",
  "canceled",
  "succeeded",
] as const;
export const StripePaymentIntentStatusSchema = openEnum(STRIPE_PAYMENT_INTENT_STATUSES);
export type StripePaymentIntentStatus = z.infer<typeof StripePaymentIntentStatusSchema>;

export const STRIPE_REFUND_STATUSES = ["pending", "requires_action", "succeeded", "failed", "canceled"] as const;
export const StripeRefundStatusSchema = openEnum(STRIPE_REFUND_STATUSES);
export type StripeRefundStatus = z.infer<typeof StripeRefundStatusSchema>;

export const StripeChargeSchema = z.object({
  id: z.string().startsWith("ch_"),
  object: z.literal("charge"),
  amount: stripeAmount,
  amount_refunded: stripeAmount,
  currency: z.string(),
  refunded: z.boolean(),
  payment_intent: z.string().nullish(),
  metadata: StripeMetadataSchema.nullish(),
});
export type StripeCharge = z.infer<typeof StripeChargeSchema>;

export const StripePaymentErrorSchema = z.object({
  code: z.string().nullish(),
  decline_code: z.string().nullish(),
  message: z.string().nullish(),
  type: z.string().nullish(),
});

export const StripePaymentIntentSchema = z.object({
  id: z.string().startsWith("pi_"),
  object: z.literal("payment_intent"),
  amount: stripeAmount,
  amount_received: stripeAmount,
  currency: z.string(),
  status: StripePaymentIntentStatusSchema,
  /** An id unless retrieved with expand[]=latest_charge. */
  latest_charge: z.union([z.string(), StripeChargeSchema]).nullish(),
  last_payment_error: StripePaymentErrorSchema.nullish(),
  metadata: StripeMetadataSchema.nullish(),
});
export type StripePaymentIntent = z.infer<typeof StripePaymentIntentSchema>;

export const StripeCheckoutSessionSchema = z.object({
  id: z.string().startsWith("cs_"),
  object: z.literal("checkout.session"),
  status: StripeSessionStatusSchema.nullable(),
  payment_status: StripeSessionPaymentStatusSchema,
  amount_total: stripeAmount.nullable(),
  currency: z.string().nullable(),
  client_reference_id: z.string().nullable(),
  metadata: StripeMetadataSchema.nullable(),
  /** Null until the customer confirms; an object when retrieved with expand[]=payment_intent. */
  payment_intent: z.union([z.string(), StripePaymentIntentSchema]).nullable(),
  /** The hosted page; null once the session is complete or expired. */
  url: z.string().nullable(),
  expires_at: z.number().int(),
});
export type StripeCheckoutSession = z.infer<typeof StripeCheckoutSessionSchema>;

export const StripeRefundSchema = z.object({
  id: z.string().startsWith("re_"),
  object: z.literal("refund"),
  amount: stripeAmount,
  currency: z.string(),
  status: StripeRefundStatusSchema.nullable(),
  failure_reason: z.string().nullish(),
  payment_intent: z.string().nullish(),
  charge: z.string().nullish(),
  metadata: StripeMetadataSchema.nullish(),
});
export type StripeRefund = z.infer<typeof StripeRefundSchema>;

/** The event envelope; `data.object` is parsed per type by the webhook mapping. */
export const StripeEventSchema = z.object({
  id: z.string().startsWith("evt_"),
  object: z.literal("event"),
  type: z.string(),
  created: z.number().int(),
  livemode: z.boolean(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
export type StripeEvent = z.infer<typeof StripeEventSchema>;

/** What a webhook's checkout.session carries that PGB reads: only references, never the outcome. */
export const StripeSessionReferenceSchema = z.object({
  id: z.string().startsWith("cs_"),
  object: z.literal("checkout.session"),
  client_reference_id: z.string().nullish(),
  metadata: StripeMetadataSchema.nullish(),
});

export const StripeChargeReferenceSchema = z.object({
  id: z.string().startsWith("ch_"),
  object: z.literal("charge"),
  payment_intent: z.string().nullish(),
  metadata: StripeMetadataSchema.nullish(),
});

export const StripeRefundReferenceSchema = z.object({
  id: z.string().startsWith("re_"),
  object: z.literal("refund"),
  payment_intent: z.string().nullish(),
  metadata: StripeMetadataSchema.nullish(),
});

/** The metadata keys PGB writes on every session, PaymentIntent and refund it creates. */
export const PGB_METADATA = { paymentId: "pgb_payment_id", tenant: "tenant", orderId: "order_id", refundId: "pgb_refund_id" } as const;
