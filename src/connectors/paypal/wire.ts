/**
 * PayPal wire shapes PGB reads (OAuth2 token, Orders v2 order, Payments v2 capture and refund,
 * webhook event, error body, verify-webhook-signature answer), as zod schemas with the types
 * inferred. Field names and enums follow PayPal's published OpenAPI specifications. Lenient about
 * fields PGB never reads and strict about those it decides on: ids, statuses, amounts, references.
 *
 * Status enums are open: a status this code does not know parses as "other", so a new PayPal status
 * lands in the cautious branch of the mappings instead of failing the parse.
 */
import { z } from "zod";

function openEnum<const T extends readonly [string, ...string[]]>(values: T) {
  const known: readonly string[] = values;
  return z.string().transform((value): T[number] | "other" => (known.includes(value) ? (value as T[number]) : "other"));
}

/** PayPal's money: a decimal string in the currency's major unit. Parsed to Money in payment-transformers.ts. */
export const PayPalMoneySchema = z.object({
  currency_code: z.string().length(3),
  value: z.string().max(32),
});
export type PayPalMoney = z.infer<typeof PayPalMoneySchema>;

export const PayPalLinkSchema = z.object({ href: z.string(), rel: z.string(), method: z.string().optional() });
export type PayPalLink = z.infer<typeof PayPalLinkSchema>;

/** `POST /v1/oauth2/token` (client credentials). */
export const PayPalTokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string(),
  expires_in: z.number().int().positive(),
  scope: z.string().optional(),
  app_id: z.string().optional(),
});
export type PayPalToken = z.infer<typeof PayPalTokenSchema>;

export const PAYPAL_ORDER_STATUSES = ["CREATED", "SAVED", "APPROVED", "VOIDED", "COMPLETED", "PAYER_ACTION_REQUIRED"] as const;
export const PayPalOrderStatusSchema = openEnum(PAYPAL_ORDER_STATUSES);
export type PayPalOrderStatus = z.infer<typeof PayPalOrderStatusSchema>;

export const PAYPAL_CAPTURE_STATUSES = ["COMPLETED", "DECLINED", "PARTIALLY_REFUNDED", "PENDING", "REFUNDED", "FAILED"] as const;
export const PayPalCaptureStatusSchema = openEnum(PAYPAL_CAPTURE_STATUSES);
export type PayPalCaptureStatus = z.infer<typeof PayPalCaptureStatusSchema>;

export const PAYPAL_REFUND_STATUSES = ["CANCELLED", "FAILED", "PENDING", "COMPLETED"] as const;
export const PayPalRefundStatusSchema = openEnum(PAYPAL_REFUND_STATUSES);
export type PayPalRefundStatus = z.infer<typeof PayPalRefundStatusSchema>;

const statusDetails = z.object({ reason: z.string() }).partial().optional();

/** A capture, as in an order's purchase_units[].payments.captures[], `GET /v2/payments/captures/{id}` and capture webhooks. */
export const PayPalCaptureSchema = z.object({
  id: z.string().min(1),
  status: PayPalCaptureStatusSchema,
  status_details: statusDetails,
  amount: PayPalMoneySchema,
  invoice_id: z.string().optional(),
  custom_id: z.string().optional(),
  final_capture: z.boolean().optional(),
  supplementary_data: z
    .object({ related_ids: z.object({ order_id: z.string().optional() }).partial().optional() })
    .partial()
    .optional(),
  links: z.array(PayPalLinkSchema).optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
});
export type PayPalCapture = z.infer<typeof PayPalCaptureSchema>;

/** `GET /v2/payments/refunds/{id}`, refund webhooks; `POST …/refund` answers at least id, status, links. */
export const PayPalRefundSchema = z.object({
  id: z.string().min(1),
  status: PayPalRefundStatusSchema,
  status_details: statusDetails,
  amount: PayPalMoneySchema.optional(),
  invoice_id: z.string().optional(),
  custom_id: z.string().optional(),
  links: z.array(PayPalLinkSchema).optional(),
});
export type PayPalRefund = z.infer<typeof PayPalRefundSchema>;

export const PayPalPurchaseUnitSchema = z.object({
  reference_id: z.string().optional(),
  amount: PayPalMoneySchema,
  custom_id: z.string().optional(),
  invoice_id: z.string().optional(),
  description: z.string().optional(),
  payments: z
    .object({ captures: z.array(PayPalCaptureSchema).optional(), refunds: z.array(PayPalRefundSchema).optional() })
    .partial()
    .optional(),
});
export type PayPalPurchaseUnit = z.infer<typeof PayPalPurchaseUnitSchema>;

/** `GET /v2/checkout/orders/{id}` and the capture answer (full representation). */
export const PayPalOrderSchema = z.object({
  id: z.string().min(1),
  status: PayPalOrderStatusSchema,
  intent: z.string().optional(),
  purchase_units: z.array(PayPalPurchaseUnitSchema).min(1),
  links: z.array(PayPalLinkSchema).optional(),
  update_time: z.string().max(64).optional(),
});
export type PayPalOrder = z.infer<typeof PayPalOrderSchema>;

/** `POST /v2/checkout/orders` with the default `Prefer: return=minimal`. */
export const PayPalOrderCreatedSchema = z.object({
  id: z.string().min(1),
  status: PayPalOrderStatusSchema,
  links: z.array(PayPalLinkSchema),
});
export type PayPalOrderCreated = z.infer<typeof PayPalOrderCreatedSchema>;

export const PAYPAL_EVENT_TYPES = [
  "CHECKOUT.ORDER.APPROVED",
  "PAYMENT.CAPTURE.COMPLETED",
  "PAYMENT.CAPTURE.PENDING",
  "PAYMENT.CAPTURE.DENIED",
  "PAYMENT.CAPTURE.REFUNDED",
  "PAYMENT.CAPTURE.REVERSED",
] as const;
export type PayPalEventType = (typeof PAYPAL_EVENT_TYPES)[number];

/** The webhook envelope. The resource is read loosely: PGB only takes references from it and re-reads the truth. */
export const PayPalWebhookEventSchema = z.object({
  id: z.string().min(1).max(255),
  event_type: z.string().min(1),
  resource_type: z.string().optional(),
  create_time: z.string().optional(),
  summary: z.string().optional(),
  resource: z.record(z.string(), z.unknown()),
});
export type PayPalWebhookEvent = z.infer<typeof PayPalWebhookEventSchema>;

/** The references a webhook resource may carry (an order, a capture or a refund). */
export const PayPalEventResourceSchema = z.object({
  id: z.string().optional(),
  custom_id: z.string().optional(),
  invoice_id: z.string().optional(),
  purchase_units: z.array(z.object({ custom_id: z.string().optional(), invoice_id: z.string().optional() }).loose()).optional(),
  supplementary_data: z
    .object({ related_ids: z.object({ order_id: z.string().optional(), capture_id: z.string().optional() }).partial().optional() })
    .partial()
    .optional(),
  links: z.array(PayPalLinkSchema).optional(),
});
export type PayPalEventResource = z.infer<typeof PayPalEventResourceSchema>;

/** The transmission headers of a webhook (lower-cased, as Node hands them over). */
export const PayPalTransmissionHeadersSchema = z.object({
  "paypal-transmission-id": z.string().min(1).max(50),
  "paypal-transmission-time": z.string().min(1).max(100),
  "paypal-transmission-sig": z.string().min(1).max(1024),
  "paypal-cert-url": z.string().min(1).max(500),
  "paypal-auth-algo": z.string().min(1).max(100),
});
export type PayPalTransmissionHeaders = z.infer<typeof PayPalTransmissionHeadersSchema>;

/** `POST /v1/notifications/verify-webhook-signature`. */
export const PayPalVerifySignatureSchema = z.object({ verification_status: z.enum(["SUCCESS", "FAILURE"]) });

/** PayPal's REST error body (name, message, debug_id, details[].issue). */
export const PayPalErrorSchema = z.object({
  name: z.string(),
  message: z.string().optional(),
  debug_id: z.string().optional(),
  details: z.array(z.object({ issue: z.string(), description: z.string().optional(), field: z.string().optional(), value: z.string().optional() })).optional(),
  links: z.array(PayPalLinkSchema).optional(),
});
export type PayPalError = z.infer<typeof PayPalErrorSchema>;

/** The OAuth2 error body (`/v1/oauth2/token`, and an expired or unknown Bearer token). */
export const PayPalOAuthErrorSchema = z.object({ error: z.string(), error_description: z.string().optional() });
export type PayPalOAuthError = z.infer<typeof PayPalOAuthErrorSchema>;
