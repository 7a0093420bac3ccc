/**
 * Pure mappings between PGB's types and PayPal's order, capture and refund objects: amounts and
 * currencies, the status tables, refund outcomes and the approval link. No I/O here, so every table
 * is unit-tested. PayPal's errors are read in error-transformers.ts, its webhooks in webhook-transformers.ts.
 */
import { CURRENCY_EXPONENTS, currencyExponent, isCurrencyCode, type CurrencyCode } from "../../core/currency.ts";
import { assertUnreachable } from "../../core/errors.ts";
import type { Money } from "../../core/money.ts";
import { ConnectorError, type PgPayment, type PgPaymentStatus, type RefundOutcome } from "../../core/ports/connector.ts";
import type { PayPalCapture, PayPalCaptureStatus, PayPalLink, PayPalMoney, PayPalOrder, PayPalOrderStatus, PayPalRefund } from "./wire.ts";
import { brand, type PgTransactionId } from "../../core/ids.ts";

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
