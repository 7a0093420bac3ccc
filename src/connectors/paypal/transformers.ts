/**
 * Pure mappings between PGB's types and PayPal's wire objects: amounts, the status tables, refund
 * outcomes, error classes and webhook references. No I/O here, so every table is unit-tested.
 */
import { createVerify, X509Certificate } from "node:crypto";
import { crc32 } from "node:zlib";
import { CURRENCY_EXPONENTS, currencyExponent, isCurrencyCode, type CurrencyCode } from "../../core/currency.ts";
import { assertUnreachable } from "../../core/errors.ts";
import type { Money } from "../../core/money.ts";
import {
  ConnectorError,
  type ConnectorErrorClass,
  type PgPayment,
  type PgPaymentStatus,
  type RefundOutcome,
  type WebhookAction,
} from "../../core/ports/connector.ts";
import { classifyPgFailure, type PgAnswerMeaning } from "../kit/pg-failure.ts";
import type { PgErrorReading } from "../kit/pg-http-client.ts";
import {
  PayPalErrorSchema,
  PayPalEventResourceSchema,
  PayPalOAuthErrorSchema,
  PayPalTransmissionHeadersSchema,
  type PayPalCapture,
  type PayPalCaptureStatus,
  type PayPalLink,
  type PayPalMoney,
  type PayPalOrder,
  type PayPalOrderStatus,
  type PayPalRefund,
  type PayPalTransmissionHeaders,
  type PayPalWebhookEvent,
} from "./wire.ts";
import { brand, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

/**
 * PayPal's REST currency codes (developer.paypal.com/api/rest/reference/currency-codes). Kept as
 * PayPal's own list, not derived from PGB's, so a currency added to PGB is checked against it.
 */
export const PAYPAL_CURRENCIES: ReadonlySet<string> = new Set([
  "AUD",
  "BRL",
  "CAD",
  "CNY",
  "CZK",
  "DKK",
  "EUR",
  "HKD",
  "HUF",
  "ILS",
  "JPY",
  "MYR",
  "MXN",
  "TWD",
  "NZD",
  "NOK",
  "PHP",
  "PLN",
  "GBP",
  "SGD",
  "SEK",
  "CHF",
  "THB",
  "USD",
]);

/** Currencies PayPal takes in whole units only: a decimal value is refused (DECIMALS_NOT_SUPPORTED). */
export const PAYPAL_ZERO_DECIMAL_CURRENCIES: ReadonlySet<string> = new Set(["JPY", "HUF", "TWD"]);

/** PGB's currencies PayPal takes: the PayPal connector's capability list (KRW and VND are not among them). */
export const PAYPAL_PGB_CURRENCIES: readonly CurrencyCode[] = (Object.keys(CURRENCY_EXPONENTS) as CurrencyCode[]).filter((c) => PAYPAL_CURRENCIES.has(c));

/** Decimal places of PayPal's amount strings for `currency`. */
export function paypalExponent(currency: string): number {
  return PAYPAL_ZERO_DECIMAL_CURRENCIES.has(currency) ? 0 : 2;
}

/**
 * PGB Money → PayPal's `{currency_code, value}`. Throws a fatal ConnectorError for a currency
 * PayPal refuses, and for an amount PayPal's unit cannot hold exactly (TWD 10.50: PayPal takes
 * whole dollars only), never rounding.
 */
export function toPayPalAmount(money: Money): PayPalMoney {
  if (!PAYPAL_CURRENCIES.has(money.currency)) throw new ConnectorError("fatal", `PayPal does not take ${money.currency}`, "CURRENCY_NOT_SUPPORTED");
  if (money.minor <= 0n)
    throw new ConnectorError("fatal", `PayPal amounts must be positive; got ${money.minor} minor units of ${money.currency}`, "CANNOT_BE_ZERO_OR_NEGATIVE");
  const exponent = paypalExponent(money.currency);
  const shift = exponent - currencyExponent(money.currency);
  let units = money.minor;
  if (shift > 0) units *= 10n ** BigInt(shift);
  if (shift < 0) {
    const scale = 10n ** BigInt(-shift);
    if (units % scale !== 0n)
      throw new ConnectorError(
        "fatal",
        `${money.currency} at PayPal has no decimals; ${money.minor} minor units is not a whole amount`,
        "DECIMALS_NOT_SUPPORTED",
      );
    units /= scale;
  }
  if (exponent === 0) return { currency_code: money.currency, value: units.toString() };
  const scale = 10n ** BigInt(exponent);
  return { currency_code: money.currency, value: `${units / scale}.${(units % scale).toString().padStart(exponent, "0")}` };
}

const PAYPAL_VALUE = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * PayPal's `{currency_code, value}` → PGB Money. Throws a fatal ConnectorError for a currency PGB
 * does not settle in, a value that is not a plain non-negative decimal, or one finer than PayPal's
 * or PGB's unit.
 */
export function fromPayPalAmount(amount: PayPalMoney): Money {
  const currency = amount.currency_code;
  if (!isCurrencyCode(currency)) throw new ConnectorError("fatal", `PayPal answered in ${currency}, a currency PGB does not settle in`);
  const m = PAYPAL_VALUE.exec(amount.value);
  if (!m || m[1]!.length > 16) throw new ConnectorError("fatal", `PayPal answered the amount "${amount.value.slice(0, 40)}", not a plain decimal`);
  const fraction = m[2] ?? "";
  const exponent = Math.min(paypalExponent(currency), currencyExponent(currency));
  // Trailing zeros beyond the unit are harmless ("1000.00" HUF); any other digit there is not.
  if (fraction.length > exponent && /[^0]/.test(fraction.slice(exponent))) {
    throw new ConnectorError("fatal", `PayPal's ${amount.value} ${currency} is finer than ${currency}'s unit`);
  }
  const pgbExponent = currencyExponent(currency);
  const kept = fraction.slice(0, pgbExponent).padEnd(pgbExponent, "0");
  return { minor: BigInt(m[1]!) * 10n ** BigInt(pgbExponent) + (pgbExponent > 0 ? BigInt(kept) : 0n), currency };
}

/** A capture's status as PGB's payment status. Anything unknown is PENDING: PGB never completes on a guess. */
export function captureStatusToPg(status: PayPalCaptureStatus): PgPaymentStatus {
  switch (status) {
    case "COMPLETED":
      return "PAID";
    case "PENDING":
      return "PENDING";
    case "DECLINED":
    case "FAILED":
      return "FAILED";
    case "PARTIALLY_REFUNDED":
      return "PARTIALLY_REFUNDED";
    case "REFUNDED":
      return "REFUNDED";
    case "other":
      return "PENDING";
    default:
      return assertUnreachable(status);
  }
}

/**
 * An order's status as PGB's, before any capture: APPROVED still needs PGB's capture call, so it is
 * PENDING like an order the buyer has not approved; VOIDED can no longer be paid. An order that is
 * COMPLETED is decided by its capture (see `pgPaymentFromOrder`): COMPLETED alone does not mean money moved.
 */
export function orderStatusToPg(status: PayPalOrderStatus): PgPaymentStatus {
  switch (status) {
    case "CREATED":
    case "SAVED":
    case "APPROVED":
    case "PAYER_ACTION_REQUIRED":
    case "COMPLETED":
    case "other":
      return "PENDING";
    case "VOIDED":
      return "EXPIRED";
    default:
      return assertUnreachable(status);
  }
}

/** The order's capture (PGB creates orders with one purchase unit and intent CAPTURE, so at most one). */
export function orderCapture(order: PayPalOrder): PayPalCapture | undefined {
  return order.purchase_units[0]?.payments?.captures?.[0];
}

/**
 * What PayPal says about a PGB payment, from the order (`GET /v2/checkout/orders/{id}` or the
 * capture answer). The reference is the purchase unit's custom_id, where PGB puts its payment id;
 * the amount is the capture's when there is one, else the order's.
 */
export function pgPaymentFromOrder(order: PayPalOrder): PgPayment {
  const unit = order.purchase_units[0]!;
  const capture = orderCapture(order);
  const status = capture ? captureStatusToPg(capture.status) : orderStatusToPg(order.status);
  const payment: PgPayment = {
    pgTransactionId: brand<PgTransactionId>(order.id),
    status,
    amount: fromPayPalAmount(capture?.amount ?? unit.amount),
    paymentReference: unit.custom_id ?? capture?.custom_id ?? "",
    details: { orderStatus: order.status, ...(capture ? { captureId: capture.id, captureStatus: capture.status } : {}) },
  };
  if (capture && status === "FAILED")
    payment.failure = { code: `CAPTURE_${capture.status}`, message: capture.status_details?.reason ?? `the capture was ${capture.status.toLowerCase()}` };
  if (capture?.status === "PENDING" && capture.status_details?.reason) payment.details = { ...payment.details, pendingReason: capture.status_details.reason };
  return payment;
}

/** A refund's status as PGB's RefundOutcome. Unknown statuses stay PENDING so the reconciler asks again. */
export function refundOutcome(refund: PayPalRefund): RefundOutcome {
  const status = refund.status;
  switch (status) {
    case "COMPLETED":
      return { status: "SUCCEEDED", pgRefundId: refund.id };
    case "PENDING":
    case "other":
      return { status: "PENDING", pgRefundId: refund.id };
    case "FAILED":
    case "CANCELLED":
      return {
        status: "FAILED",
        pgRefundId: refund.id,
        code: `REFUND_${status}`,
        message: refund.status_details?.reason ?? `PayPal ${status.toLowerCase()} the refund`,
      };
    default:
      return assertUnreachable(status);
  }
}

/** The buyer's approval URL in an order's links: `payer-action` (experience_context) or `approve` (application_context). */
export function approvalLink(links: readonly PayPalLink[]): string | undefined {
  return links.find((l) => l.rel === "payer-action")?.href ?? links.find((l) => l.rel === "approve")?.href;
}

export interface PayPalFailure {
  errorClass: ConnectorErrorClass;
  httpStatus: number;
  /** PayPal's error name (UNPROCESSABLE_ENTITY…) or the OAuth error (invalid_token…). */
  name: string;
  /** The first details[].issue, e.g. INSTRUMENT_DECLINED; the name when there is none. */
  issue: string;
  message: string;
  debugId?: string;
  /** PayPal says: send the buyer back to the approval page to choose another way to pay. */
  sendBuyerBack: boolean;
}

/** 422 issues that mean PGB sent something wrong: a bug or configuration error, not the buyer's doing. */
const FATAL_ISSUES: ReadonlySet<string> = new Set([
  "CURRENCY_NOT_SUPPORTED",
  "DECIMAL_PRECISION",
  "DECIMALS_NOT_SUPPORTED",
  "AMOUNT_MISMATCH",
  "CANNOT_BE_ZERO_OR_NEGATIVE",
  "CANNOT_BE_NEGATIVE",
  "CURRENCY_MISMATCH",
  "INVALID_CURRENCY_CODE",
  "REFUND_CAPTURE_CURRENCY_MISMATCH",
  "RETURN_URL_REQUIRED",
  "CANCEL_URL_REQUIRED",
  "AUTH_CAPTURE_NOT_ENABLED",
  "PAYEE_ACCOUNT_RESTRICTED",
  "PAYEE_ACCOUNT_LOCKED_OR_CLOSED",
  "PERMISSION_DENIED",
]);

/** 422 issues after which the outcome must be read from PayPal: a capture exists or is being made. */
const INDETERMINATE_ISSUES: ReadonlySet<string> = new Set(["ORDER_ALREADY_CAPTURED", "ORDER_COMPLETION_IN_PROGRESS"]);

/** Issues after which PayPal documents sending the buyer back to its approval page. */
const SEND_BUYER_BACK: ReadonlySet<string> = new Set(["INSTRUMENT_DECLINED", "PAYER_ACTION_REQUIRED", "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING"]);

/** What PayPal's error answer means, for the kit's one failure rule; plus whether to send the buyer back. */
export interface PayPalErrorReading extends PgErrorReading {
  name: string;
  issue: string;
  debugId?: string;
  sendBuyerBack: boolean;
}

/**
 * What a PayPal error answer means (kit/pg-failure.ts decides the class from it). An expired or
 * unknown token (401 invalid_token) was refused unprocessed, so it is retried after a new token; bad
 * credentials, PGB's own request mistakes (400, 403, 404 and the 422 issues in FATAL_ISSUES) need an
 * operator; 422 business refusals are declines, except a capture already made or in progress, which
 * PayPal may have acted on; 429 refused unprocessed; a 409 (a conflicting request in flight) and a
 * 5xx may have acted.
 */
export function readPayPalError(httpStatus: number, body: unknown): PayPalErrorReading {
  const oauth = PayPalOAuthErrorSchema.safeParse(body);
  const rest = PayPalErrorSchema.safeParse(body);
  const name = rest.success ? rest.data.name : oauth.success ? oauth.data.error : `HTTP_${httpStatus}`;
  const detail = rest.success ? rest.data.details?.[0] : undefined;
  const issue = detail?.issue ?? name;
  const debugId = rest.success ? rest.data.debug_id : undefined;
  const text = (
    detail?.description ??
    (rest.success ? rest.data.message : oauth.success ? oauth.data.error_description : undefined) ??
    `PayPal answered HTTP ${httpStatus}`
  ).slice(0, 500);
  const meaning: PgAnswerMeaning =
    httpStatus === 401
      ? name === "invalid_token"
        ? "unprocessed"
        : "misconfigured"
      : httpStatus === 429
        ? "unprocessed"
        : httpStatus === 409 || httpStatus >= 500
          ? "pg-fault"
          : httpStatus === 422
            ? INDETERMINATE_ISSUES.has(issue)
              ? "pg-fault"
              : FATAL_ISSUES.has(issue)
                ? "misconfigured"
                : "declined"
            : "misconfigured";
  return {
    meaning,
    pgCode: issue,
    pgMessage: `${text}${debugId ? ` (debug_id ${debugId})` : ""}`,
    name,
    issue,
    sendBuyerBack: SEND_BUYER_BACK.has(issue),
    ...(debugId !== undefined ? { debugId } : {}),
  };
}

/** A PayPal error answer classified by the kit's one rule. `moneyMoving`: the call would create a capture or refund. */
export function classifyPayPalError(httpStatus: number, body: unknown, moneyMoving: boolean): PayPalFailure {
  const reading = readPayPalError(httpStatus, body);
  const { errorClass } = classifyPgFailure(
    { kind: "answered", httpStatus, meaning: reading.meaning, pgCode: reading.issue, pgMessage: reading.pgMessage },
    moneyMoving,
    "PayPal",
  );
  const message =
    reading.debugId === undefined ? reading.pgMessage : reading.pgMessage.slice(0, reading.pgMessage.length - ` (debug_id ${reading.debugId})`.length);
  return {
    errorClass,
    httpStatus,
    name: reading.name,
    issue: reading.issue,
    message,
    sendBuyerBack: reading.sendBuyerBack,
    ...(reading.debugId !== undefined ? { debugId: reading.debugId } : {}),
  };
}

export function toConnectorError(failure: PayPalFailure): ConnectorError {
  return new ConnectorError(
    failure.errorClass,
    `PayPal ${failure.issue}: ${failure.message}${failure.debugId ? ` (debug_id ${failure.debugId})` : ""}`,
    failure.issue,
    failure.httpStatus,
  );
}

/** References a webhook carries, by resource: an order, a capture, or a refund/reversal. */
export interface PayPalEventReferences {
  orderId?: string;
  captureId?: string;
  refundId?: string;
  /** custom_id: PGB's payment id on orders and captures; on a refund, whatever PGB put in the refund's custom_id. */
  customId?: string;
}

const CAPTURE_HREF = /\/v2\/payments\/captures\/([^/?#]+)$/;

export function eventReferences(event: PayPalWebhookEvent): PayPalEventReferences {
  const parsed = PayPalEventResourceSchema.safeParse(event.resource);
  if (!parsed.success) return {};
  const r = parsed.data;
  const defined = (refs: PayPalEventReferences): PayPalEventReferences => Object.fromEntries(Object.entries(refs).filter(([, v]) => v !== undefined));
  if (event.event_type.startsWith("CHECKOUT.ORDER.")) return defined({ orderId: r.id, customId: r.purchase_units?.[0]?.custom_id });
  if (event.event_type === "PAYMENT.CAPTURE.REFUNDED" || event.event_type === "PAYMENT.CAPTURE.REVERSED") {
    const up = r.links?.find((l) => l.rel === "up")?.href;
    return defined({ refundId: r.id, captureId: up === undefined ? undefined : CAPTURE_HREF.exec(up)?.[1], customId: r.custom_id });
  }
  return defined({ captureId: r.id, orderId: r.supplementary_data?.related_ids?.order_id, customId: r.custom_id });
}

/**
 * A verified event as the core's WebhookAction. PGB's pgTransactionId for PayPal is the order id,
 * and its payment reference is custom_id. A refund or reversal names only its capture: the connector
 * resolves the capture to its order (GET the capture: supplementary_data.related_ids.order_id)
 * unless the refund's custom_id carries PGB's payment id.
 */
export function webhookAction(event: PayPalWebhookEvent): WebhookAction {
  const refs = eventReferences(event);
  const ref = {
    ...(refs.orderId === undefined ? {} : { pgTransactionId: brand<PgTransactionId>(refs.orderId) }),
    ...(refs.customId === undefined ? {} : { paymentReference: brand<PaymentId>(refs.customId) }),
  };
  switch (event.event_type) {
    case "CHECKOUT.ORDER.APPROVED":
    case "PAYMENT.CAPTURE.COMPLETED":
    case "PAYMENT.CAPTURE.PENDING":
    case "PAYMENT.CAPTURE.DENIED":
      if (refs.orderId === undefined && refs.customId === undefined)
        return { kind: "ignored", eventId: event.id, reason: `${event.event_type} names no order and no custom_id` };
      return { kind: "payment", eventId: event.id, ...ref };
    case "PAYMENT.CAPTURE.REFUNDED":
    case "PAYMENT.CAPTURE.REVERSED":
      return { kind: "refund", eventId: event.id, ...ref, ...(refs.refundId === undefined ? {} : { pgRefundId: refs.refundId }) };
    default:
      return { kind: "ignored", eventId: event.id, reason: `PGB does not act on ${event.event_type}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures: PayPal's certificate check, on the raw bytes PayPal sent.

/** Where PayPal serves its signing certificates (PAYPAL-CERT-URL); anything else is refused before any fetch. */
export const PAYPAL_CERT_ORIGINS: readonly string[] = [
  "https://api.paypal.com",
  "https://api-m.paypal.com",
  "https://api.sandbox.paypal.com",
  "https://api-m.sandbox.paypal.com",
];

/**
 * True when `certUrl` may be fetched: its origin is one of `allowedOrigins` (PayPal's, or a
 * simulator's in tests) and it names a certificate path. Trust in the certificate rests on this: it
 * comes over HTTPS from PayPal's own API host.
 */
export function isAllowedCertUrl(certUrl: string, allowedOrigins: readonly string[] = PAYPAL_CERT_ORIGINS): boolean {
  if (!URL.canParse(certUrl)) return false;
  const url = new URL(certUrl);
  return (
    allowedOrigins.includes(url.origin) &&
    url.pathname.startsWith("/v1/notifications/certs/") &&
    url.search === "" &&
    url.username === "" &&
    url.password === ""
  );
}

/** The transmission headers of a webhook, or why they are missing or malformed. */
export function readTransmissionHeaders(
  headers: Record<string, string | string[] | undefined>,
): { ok: true; value: PayPalTransmissionHeaders } | { ok: false; reason: string } {
  const single = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] : v]));
  const parsed = PayPalTransmissionHeadersSchema.safeParse(single);
  if (!parsed.success)
    return { ok: false, reason: `missing or malformed PayPal transmission headers (${parsed.error.issues.map((i) => i.path.join(".")).join(", ")})` };
  return { ok: true, value: parsed.data };
}

/** What PayPal signs: `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body, unsigned decimal>`. */
export function paypalTransmissionMessage(transmissionId: string, transmissionTime: string, webhookId: string, rawBody: Buffer | string): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(rawBody) >>> 0}`;
}

/**
 * PayPal's documented certificate check: SHA256withRSA over the transmission message for this
 * tenant's webhook id, with the public key of the certificate at PAYPAL-CERT-URL (which the caller
 * fetched from an allowed origin), within the certificate's validity. Never throws.
 */
export function verifyPayPalTransmission(input: {
  headers: PayPalTransmissionHeaders;
  rawBody: Buffer;
  webhookId: string;
  certificatePem: string;
  now: Date;
}): { ok: true } | { ok: false; reason: string } {
  const h = input.headers;
  if (h["paypal-auth-algo"] !== "SHA256withRSA") return { ok: false, reason: `unsupported PAYPAL-AUTH-ALGO ${h["paypal-auth-algo"].slice(0, 40)}` };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(input.certificatePem);
  } catch {
    return { ok: false, reason: "PAYPAL-CERT-URL did not serve a certificate" };
  }
  if (input.now < new Date(certificate.validFrom) || input.now > new Date(certificate.validTo))
    return { ok: false, reason: "PayPal's certificate is not valid now" };
  const message = paypalTransmissionMessage(h["paypal-transmission-id"], h["paypal-transmission-time"], input.webhookId, input.rawBody);
  try {
    if (createVerify("RSA-SHA256").update(message, "utf8").verify(certificate.publicKey, h["paypal-transmission-sig"], "base64")) return { ok: true };
  } catch {
    // A malformed signature is just a wrong one.
  }
  return { ok: false, reason: "the PayPal transmission signature does not verify for this webhook id" };
}
