/**
 * Notifications about money that moved outside an order's usual path: a capture on an attempt that is
 * not the order's paid one, and a refund that failed after PGB had counted it. Each is a typed shape
 * here and becomes a HostNotification in one place (host-notification.ts, `moneyNotification`).
 */
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
