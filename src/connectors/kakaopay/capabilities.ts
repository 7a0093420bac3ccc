/**
 * KakaoPay: the KakaoPay wallet (EASY_PAY) in KRW only. No webhooks for single payments (the
 * reconciler asks order lookup), refunds found again through order lookup's cancel history, and a
 * tid that dies 15 minutes after the ready call, so no checkout may stay open longer.
 */
import type { PgCapabilities } from "../../core/ports/capabilities.ts";
import { KAKAOPAY_TID_LIFETIME_MS } from "./transformers.ts";

export const KAKAOPAY_CAPABILITIES: PgCapabilities = {
  payTypes: ["EASY_PAY"],
  currencies: { KRW: {} },
  partialRefunds: true,
  refundAccountForDepositedVirtualAccount: false,
  webhooks: "none",
  refundLookup: true,
  refundList: true,
  maxCheckoutMinutes: KAKAOPAY_TID_LIFETIME_MS / 60_000,
  webhookHeaders: [],
};
