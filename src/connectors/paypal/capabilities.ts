/**
 * PayPal Checkout (Orders v2): PayPal wallet payments in the currencies PayPal takes (not KRW or VND,
 * so a route sending those to PayPal fails at start), signed webhooks, refunds read back and listed.
 */
import type { PgCapabilities } from "../../core/ports/capabilities.ts";
import { PAYPAL_PGB_CURRENCIES } from "./payment-transformers.ts";

export const PAYPAL_CAPABILITIES: PgCapabilities = {
  payTypes: ["PAYPAL"],
  currencies: Object.fromEntries(PAYPAL_PGB_CURRENCIES.map((currency) => [currency, {}])),
  partialRefunds: true,
  refundAccountForDepositedVirtualAccount: false,
  webhooks: "signed",
  refundLookup: true,
  // The order lists its capture's refunds and reversals (purchase_units[].payments.refunds).
  refundList: true,
  // A buyer has three hours to approve a PayPal order.
  maxCheckoutMinutes: 180,
  webhookHeaders: ["paypal-"],
};
