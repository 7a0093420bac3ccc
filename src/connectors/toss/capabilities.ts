/** Toss Payments: Korean cards, virtual accounts, transfers and phone billing, in KRW only; webhooks unsigned. */
import type { PgCapabilities } from "../../core/ports/capabilities.ts";

export const TOSS_CAPABILITIES: PgCapabilities = {
  payTypes: ["CARD", "EASY_PAY", "VIRTUAL_ACCOUNT", "TRANSFER", "MOBILE_PHONE"],
  currencies: { KRW: {} },
  partialRefunds: true,
  refundAccountForDepositedVirtualAccount: true,
  webhooks: "unsigned",
  refundLookup: true,
  refundList: false,
  maxCheckoutMinutes: null,
  webhookHeaders: ["tosspayments-"],
};
