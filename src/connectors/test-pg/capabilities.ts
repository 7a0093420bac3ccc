/** The built-in fake PG takes everything PGB sells, so every flow can run without a PG account. */
import { CURRENCY_EXPONENTS } from "../../core/currency.ts";
import { PAY_TYPES } from "../../core/pay-type.ts";
import type { PgCapabilities } from "../../core/ports/capabilities.ts";

export const TEST_PG_CAPABILITIES: PgCapabilities = {
  payTypes: PAY_TYPES,
  currencies: Object.fromEntries(Object.keys(CURRENCY_EXPONENTS).map((currency) => [currency, {}])),
  partialRefunds: true,
  refundAccountForDepositedVirtualAccount: false,
  webhooks: "signed",
  refundLookup: true,
  refundList: true,
  maxCheckoutMinutes: null,
  webhookHeaders: ["webhook-"],
};
