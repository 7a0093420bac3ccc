/**
 * Currencies PGB settles in and the nation → currency map the host relies on: the host sends a
 * NationCode, never a currency.
 */
import { z } from "zod";

export const CURRENCY_EXPONENTS = {
  KRW: 0,
  JPY: 0,
  VND: 0,
  USD: 2,
  GBP: 2,
  EUR: 2,
  SGD: 2,
  TWD: 2,
  THB: 2,
  PLN: 2,
  SEK: 2,
  DKK: 2,
  CZK: 2,
  HUF: 2,
  RON: 2,
} as const;

export type CurrencyCode = keyof typeof CURRENCY_EXPONENTS;
export const CurrencyCodeSchema = z.enum(Object.keys(CURRENCY_EXPONENTS) as [CurrencyCode, ...CurrencyCode[]]);

// Bulgaria joined the euro on 2026-01-01.
const EURO_AREA = ["AT", "BE", "BG", "HR", "CY", "EE", "FI", "FR", "DE", "GR", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PT", "SK", "SI", "ES"] as const;

const NATION_CURRENCY: Readonly<Record<string, CurrencyCode>> = {
  KR: "KRW",
  JP: "JPY",
  US: "USD",
  GB: "GBP",
  SG: "SGD",
  TW: "TWD",
  VN: "VND",
  TH: "THB",
  // EU members outside the euro area.
  PL: "PLN",
  SE: "SEK",
  DK: "DKK",
  CZ: "CZK",
  HU: "HUF",
  RO: "RON",
  ...Object.fromEntries(EURO_AREA.map((nation) => [nation, "EUR" as const])),
};

export const SUPPORTED_NATIONS = Object.keys(NATION_CURRENCY).sort();

/** ISO 3166-1 alpha-2 nation code (case-insensitive) → currency, or undefined if PGB does not sell there. */
export function currencyForNation(nationCode: string): CurrencyCode | undefined {
  return NATION_CURRENCY[nationCode.toUpperCase()];
}

export function currencyExponent(currency: CurrencyCode): number {
  return CURRENCY_EXPONENTS[currency];
}

export function isCurrencyCode(value: string): value is CurrencyCode {
  return Object.hasOwn(CURRENCY_EXPONENTS, value);
}
