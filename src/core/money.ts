/**
 * Money is an integer count of minor units plus an ISO 4217 currency. It is created only by the
 * parsers here (from the host's decimal strings or a PG's integers) and printed back to exact
 * decimal strings. No float ever holds an amount.
 */
import { currencyExponent, type CurrencyCode } from "./currency.ts";

/** The largest amount PGB accepts, in minor units: far above any real payment, far below 2^53. */
export const MAX_MINOR_UNITS = 10n ** 15n;

export interface Money {
  readonly minor: bigint;
  readonly currency: CurrencyCode;
}

export type MoneyParseError = { kind: "format"; message: string } | { kind: "precision"; message: string } | { kind: "range"; message: string };

const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * Parses a non-negative decimal string in the currency's major unit ("10000" KRW, "19.99" USD).
 * More decimals than the currency has is an error, never a rounding; so are signs, exponents,
 * spaces, thousands separators and leading zeros.
 */
export function parseMoney(text: string, currency: CurrencyCode): { ok: true; value: Money } | { ok: false; error: MoneyParseError } {
  const m = DECIMAL.exec(text);
  if (!m) return { ok: false, error: { kind: "format", message: `"${truncate(text)}" is not a plain decimal number` } };
  const exponent = currencyExponent(currency);
  const whole = m[1]!;
  const given = m[2] ?? "";
  // Even "10000.00" KRW is refused: the host must send what the currency has, so a unit mix-up
  // (cents sent for won) is caught here rather than charged.
  if (given.length > exponent) {
    return {
      ok: false,
      error: { kind: "precision", message: `${currency} has ${exponent} decimal place(s); "${truncate(text)}" has more` },
    };
  }
  const fraction = given.padEnd(exponent, "0");
  if (whole.length > 16) return { ok: false, error: { kind: "range", message: `"${truncate(text)}" is too large` } };
  const minor = BigInt(whole) * 10n ** BigInt(exponent) + (exponent > 0 ? BigInt(fraction) : 0n);
  if (minor > MAX_MINOR_UNITS) return { ok: false, error: { kind: "range", message: `"${truncate(text)}" is too large` } };
  return { ok: true, value: { minor, currency } };
}

/** Prints minor units as the exact decimal string the host expects ("19.99", "10000"). */
export function formatMoney(money: Money): string {
  return formatMinor(money.minor, money.currency);
}

export function formatMinor(minor: bigint, currency: CurrencyCode): string {
  const exponent = currencyExponent(currency);
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  if (exponent === 0) return `${negative ? "-" : ""}${abs}`;
  const scale = 10n ** BigInt(exponent);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(exponent, "0");
  return `${negative ? "-" : ""}${whole}.${fraction}`;
}

export function money(minor: bigint, currency: CurrencyCode): Money {
  return { minor, currency };
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
