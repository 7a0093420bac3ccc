/** Stripe Checkout: cards and wallets in every currency PGB sells in, signed webhooks, refunds listed on the intent. */
import { CURRENCY_EXPONENTS } from "../../core/currency.ts";
import type { PgCapabilities } from "../../core/ports/capabilities.ts";

export const STRIPE_CAPABILITIES: PgCapabilities = {
  payTypes: ["CARD", "EASY_PAY"],
  currencies: Object.fromEntries(Object.keys(CURRENCY_EXPONENTS).map((currency) => [currency, {}])),
  partialRefunds: true,
  refundAccountForDepositedVirtualAccount: false,
  webhooks: "signed",
  refundLookup: true,
  refundList: true,
  // A Checkout Session lives at most 24 hours.
  maxCheckoutMinutes: 24 * 60,
  webhookHeaders: ["stripe-signature"],
};
