/**
 * Notifications about money that moved outside an order's usual path: a capture on an attempt that is
 * not the order's paid one, and a refund that failed after PGB had counted it. Each is a typed shape
 * here and becomes wire fields in one place (`moneyNotificationFields`), beside the fields every
 * notification carries (Type, NotificationId, DBType, OrderId, PaymentId, PGTransactionId...).
 */
import type { CurrencyCode } from "./currency.ts";
import { formatMinor } from "./money.ts";

export type MoneyNotification =
  /** lateCapture "notify": the host decides; FullCancel with this PaymentId refunds it. */
  | { type: "LATE_PAYMENT"; captured: bigint }
  /** The late capture was refunded at the PG (by PGB under lateCapture "refund", or by the host's FullCancel). */
  | { type: "LATE_PAYMENT_REFUNDED"; captured: bigint; refundId: string; refunded: bigint }
  /**
   * A refund did not happen after all: the PG failed it after reporting success, or its unknown
   * outcome turned out failed. The amount is back in the balance (or, for a late capture, still
   * with the merchant).
   */
  | { type: "REFUND_FAILED"; refundId: string; refunded: bigint; pgCode: string; message: string; lateCapture: boolean };

export type MoneyNotificationType = MoneyNotification["type"];

export const MONEY_NOTIFICATION_TYPES = ["LATE_PAYMENT", "LATE_PAYMENT_REFUNDED", "REFUND_FAILED"] as const satisfies readonly MoneyNotificationType[];
// Every member of the union is listed (a new one that is not fails to compile here).
const listsEveryType: Exclude<MoneyNotificationType, (typeof MONEY_NOTIFICATION_TYPES)[number]> extends never ? true : never = true;
void listsEveryType;

export function moneyNotificationFields(n: MoneyNotification, currency: CurrencyCode): Record<string, unknown> {
  const money = (minor: bigint) => formatMinor(minor, currency);
  switch (n.type) {
    case "LATE_PAYMENT":
      return { CapturedPrice: money(n.captured) };
    case "LATE_PAYMENT_REFUNDED":
      return { CapturedPrice: money(n.captured), RefundId: n.refundId, RefundPrice: money(n.refunded) };
    case "REFUND_FAILED":
      return { RefundId: n.refundId, RefundPrice: money(n.refunded), PGCode: n.pgCode, FailureMessage: n.message, LateCapture: n.lateCapture };
  }
}
