/**
 * The PayPal simulator's records, PayPal's amount rules and its error bodies, as PayPal's Orders v2,
 * Payments v2 and Webhooks v1 OpenAPI specifications describe them (error_400…error_503,
 * error_details, money, capture_status, refund_status).
 */
import { randomBytes } from "node:crypto";

/** PayPal's REST currency codes; JPY, HUF and TWD are whole units only (a decimal value is refused). */
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
export const PAYPAL_ZERO_DECIMAL: ReadonlySet<string> = new Set(["JPY", "HUF", "TWD"]);

export type OrderStatus = "CREATED" | "SAVED" | "APPROVED" | "VOIDED" | "COMPLETED" | "PAYER_ACTION_REQUIRED";
export type CaptureStatus = "COMPLETED" | "DECLINED" | "PARTIALLY_REFUNDED" | "PENDING" | "REFUNDED" | "FAILED";
export type RefundStatus = "CANCELLED" | "FAILED" | "PENDING" | "COMPLETED";
/** What the buyer chose on the approval page. */
export type Funding = "balance" | "decline" | "echeck";

export interface Amount {
  /** In PayPal's unit for the currency (cents for USD, yen for JPY, whole forints for HUF). */
  minor: bigint;
  currency: string;
}

export interface SimOrder {
  id: string;
  status: OrderStatus;
  amount: Amount;
  referenceId: string;
  customId?: string;
  invoiceId?: string;
  description?: string;
  returnUrl?: string;
  cancelUrl?: string;
  /** experience_context answers PAYER_ACTION_REQUIRED and rel payer-action; application_context CREATED and rel approve. */
  usesExperienceContext: boolean;
  funding?: Funding;
  payerId?: string;
  captureId?: string;
  createTime: string;
  updateTime: string;
}

export interface SimCapture {
  id: string;
  orderId: string;
  status: CaptureStatus;
  reason?: string;
  amount: Amount;
  invoiceId?: string;
  customId?: string;
  createTime: string;
  updateTime: string;
}

export interface SimRefund {
  id: string;
  captureId: string;
  status: RefundStatus;
  reason?: string;
  amount: Amount;
  invoiceId?: string;
  customId?: string;
  noteToPayer?: string;
  /** A reversal by a dispute (PAYMENT.CAPTURE.REVERSED), not a refund the merchant asked for. */
  reversal: boolean;
  createTime: string;
  updateTime: string;
}

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface ErrorDetail {
  issue: string;
  description: string;
  field?: string;
  value?: string;
  location?: "body" | "path" | "query";
}

const ERROR_NAMES: Record<number, [string, string]> = {
  400: ["INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."],
  401: ["AUTHENTICATION_FAILURE", "Authentication failed due to missing authorization header, or invalid authentication credentials."],
  403: ["NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."],
  404: ["RESOURCE_NOT_FOUND", "The specified resource does not exist."],
  409: ["RESOURCE_CONFLICT", "The server has detected a conflict while processing this request."],
  415: ["UNSUPPORTED_MEDIA_TYPE", "The server does not support the request payload's media type."],
  422: ["UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically incorrect, or failed business validation."],
  429: ["RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."],
  500: ["INTERNAL_SERVER_ERROR", "An internal server error occurred."],
  503: ["SERVICE_UNAVAILABLE", "Service Unavailable."],
};

export function debugId(): string {
  return randomBytes(7).toString("hex").slice(0, 13);
}

/** PayPal's error body: name, message, debug_id, details[] and an information link per issue. */
export function paypalError(status: number, details: ErrorDetail[] = [], api = "orders/v2"): Answer {
  const [name, message] = ERROR_NAMES[status] ?? ERROR_NAMES[500]!;
  const id = debugId();
  const body: Record<string, unknown> = { name, message, debug_id: id };
  if (details.length > 0) {
    body.details = details;
    body.links = details.map((d) => ({ href: `https://developer.paypal.com/docs/api/${api}/#error-${d.issue}`, rel: "information_link", method: "GET" }));
  }
  return { status, body, headers: { "paypal-debug-id": id } };
}

/**
 * Reads a PayPal money object by PayPal's rules. Answers the amount in PayPal's unit, or the issue
 * PayPal reports (CURRENCY_NOT_SUPPORTED, DECIMALS_NOT_SUPPORTED, DECIMAL_PRECISION,
 * CANNOT_BE_ZERO_OR_NEGATIVE, INVALID_PARAMETER_SYNTAX) for `field`.
 */
export function readMoney(value: unknown, field: string): { ok: true; amount: Amount } | { ok: false; status: number; detail: ErrorDetail } {
  const fail = (status: number, issue: string, description: string, at = field, given?: string) => ({
    ok: false as const,
    status,
    detail: { issue, description, field: at, location: "body" as const, ...(given === undefined ? {} : { value: given }) },
  });
  if (typeof value !== "object" || value === null) return fail(400, "MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.");
  const { currency_code: currency, value: text } = value as { currency_code?: unknown; value?: unknown };
  if (typeof currency !== "string") return fail(400, "MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", `${field}/currency_code`);
  if (typeof text !== "string") return fail(400, "MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", `${field}/value`);
  if (!/^[A-Z]{3}$/.test(currency))
    return fail(400, "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.", `${field}/currency_code`, currency);
  if (!PAYPAL_CURRENCIES.has(currency))
    return fail(
      422,
      "CURRENCY_NOT_SUPPORTED",
      "Currency code is not currently supported. Please refer https://developer.paypal.com/docs/api/reference/currency-codes/ for list of supported currency codes.",
      `${field}/currency_code`,
      currency,
    );
  const m = /^(-?)([0-9]+)?(?:\.([0-9]+))?$/.exec(text);
  if (!m || text.length > 32 || (m[2] === undefined && m[3] === undefined))
    return fail(400, "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.", `${field}/value`, text);
  const fraction = m[3] ?? "";
  const exponent = PAYPAL_ZERO_DECIMAL.has(currency) ? 0 : 2;
  if (exponent === 0 && fraction.length > 0) return fail(422, "DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.", `${field}/value`, text);
  if (fraction.length > exponent)
    return fail(422, "DECIMAL_PRECISION", "If the currency supports decimals, only two decimal place precision is supported.", `${field}/value`, text);
  const minor = BigInt(m[2] ?? "0") * 10n ** BigInt(exponent) + BigInt(fraction.padEnd(exponent, "0") || "0");
  if (m[1] === "-" || minor === 0n)
    return fail(
      422,
      "CANNOT_BE_ZERO_OR_NEGATIVE",
      "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.",
      `${field}/value`,
      text,
    );
  return { ok: true, amount: { minor, currency } };
}

export function formatAmount(amount: Amount): { currency_code: string; value: string } {
  if (PAYPAL_ZERO_DECIMAL.has(amount.currency)) return { currency_code: amount.currency, value: amount.minor.toString() };
  const abs = amount.minor < 0n ? -amount.minor : amount.minor;
  return { currency_code: amount.currency, value: `${amount.minor < 0n ? "-" : ""}${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}` };
}

/** PayPal's fee on a sale, for seller_receivable_breakdown: 3.49% plus a fixed 0.49 (49 units where whole). */
export function paypalFee(amount: Amount): Amount {
  return { minor: (amount.minor * 349n) / 10_000n + 49n, currency: amount.currency };
}

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** PayPal's 17-character upper-case ids (orders, captures, refunds, webhooks). */
export function paypalId(): string {
  let out = "";
  for (const byte of randomBytes(17)) out += ID_ALPHABET[byte % 36];
  return out;
}
