/**
 * What the host is told, as the outbox stores it and the dispatcher POSTs it (README, "Payment state"):
 * one member per notification type, with its fields. Built here and nowhere else; the repositories only
 * queue what `hostNotification` returns.
 */
import type { CurrencyCode } from "./currency.ts";
import { formatMinor } from "./money.ts";
import type { MoneyNotification } from "./money-notifications.ts";
import type { NotificationType, PaymentStatus } from "./payment-state.ts";

/** Fields every notification carries; `PaymentId` and `PGTransactionId` are the attempt's. */
interface Common {
  NotificationId: string;
  DBType: string;
  OrderId: number;
  JoinerId: number;
  PaymentId: string;
  PGType: string;
  PayType: string;
  NationCode: string;
  Currency: CurrencyCode;
  PGTransactionId: string | null;
  Status: PaymentStatus;
  OccurredAt: string;
}

/** The order's amounts after the change, decimal strings in the currency's major unit. */
export interface OrderAmounts {
  TotalPrice: string;
  PaidPrice: string;
  CancelledPrice: string;
  RemainingPrice: string;
}

export interface HostVirtualAccount {
  Bank: string;
  AccountNumber: string;
  HolderName: string;
  DueDate: string;
}

/** The fields a payment's state change adds, by the notification it produces. */
export interface StateNotificationFields {
  PAYMENT_COMPLETED: Record<never, never>;
  DEPOSIT_WAITING: { VirtualAccount?: HostVirtualAccount };
  PAYMENT_FAILED: { FailureCode: string | null; FailureMessage: string | null };
  PAYMENT_EXPIRED: { FailureCode: string | null; FailureMessage: string | null };
  /** A refund; `RefundOrigin: "PG"` for one made in the PG's dashboard, not through PGB. */
  PAYMENT_PARTIALLY_CANCELLED: { RefundPrice: string; RefundId: string; RefundOrigin?: "PG" };
  PAYMENT_CANCELLED: { RefundPrice: string; RefundId: string; RefundOrigin?: "PG" };
}

interface MoneyNotificationFields {
  LATE_PAYMENT: { CapturedPrice: string };
  LATE_PAYMENT_REFUNDED: { CapturedPrice: string; RefundId: string; RefundPrice: string };
  REFUND_FAILED: { RefundId: string; RefundPrice: string; PGCode: string; FailureMessage: string; LateCapture: boolean };
}

/** The fields a transition into each state adds to its notification (none where the host is not told). */
export interface FieldsOnEntering {
  READY: Record<never, never>;
  WAITING_FOR_DEPOSIT: StateNotificationFields["DEPOSIT_WAITING"];
  PAID: StateNotificationFields["PAYMENT_COMPLETED"];
  PARTIALLY_CANCELLED: StateNotificationFields["PAYMENT_PARTIALLY_CANCELLED"];
  CANCELLED: StateNotificationFields["PAYMENT_CANCELLED"];
  FAILED: StateNotificationFields["PAYMENT_FAILED"];
  EXPIRED: StateNotificationFields["PAYMENT_EXPIRED"];
  SUPERSEDED: Record<never, never>;
}

type StateNotification = { [T in NotificationType]: Common & OrderAmounts & { Type: T } & StateNotificationFields[T] }[NotificationType];
/** A late capture's notifications leave the order's amounts out: that attempt is not the order's payment. */
type MoneyHostNotification = {
  [T in MoneyNotification["type"]]: Common & Partial<OrderAmounts> & { Type: T } & MoneyNotificationFields[T];
}[MoneyNotification["type"]];

export type HostNotification = StateNotification | MoneyHostNotification;
export type HostNotificationType = HostNotification["Type"];

/** What of a payment a notification tells (a structural subset of storage's Payment). */
export interface NotifiedPayment {
  id: string;
  tenant: string;
  orderId: number;
  joinerId: number;
  pg: string;
  payType: string;
  nationCode: string;
  currency: CurrencyCode;
  pgTransactionId: string | null;
  status: PaymentStatus;
  amount: bigint;
}

export interface AmountsAfter {
  captured: bigint;
  refunded: bigint;
  remaining: bigint;
}

export function orderAmounts(payment: NotifiedPayment, balance: AmountsAfter): OrderAmounts {
  return {
    TotalPrice: formatMinor(payment.amount, payment.currency),
    PaidPrice: formatMinor(balance.captured, payment.currency),
    CancelledPrice: formatMinor(balance.refunded, payment.currency),
    RemainingPrice: formatMinor(balance.remaining, payment.currency),
  };
}

function common(payment: NotifiedPayment, id: string, occurredAt: Date): Common {
  return {
    NotificationId: id,
    DBType: payment.tenant,
    OrderId: payment.orderId,
    JoinerId: payment.joinerId,
    PaymentId: payment.id,
    PGType: payment.pg,
    PayType: payment.payType,
    NationCode: payment.nationCode,
    Currency: payment.currency,
    PGTransactionId: payment.pgTransactionId,
    Status: payment.status,
    OccurredAt: occurredAt.toISOString(),
  };
}

/** The notification of a payment's state change. */
export function stateNotification<T extends NotificationType>(
  type: T,
  payment: NotifiedPayment,
  balance: AmountsAfter,
  fields: StateNotificationFields[T],
  id: string,
  occurredAt: Date,
): HostNotification {
  // The mapped type cannot follow a generic T into the union; each member is Common, the amounts, its Type and its fields.
  return { Type: type, ...common(payment, id, occurredAt), ...orderAmounts(payment, balance), ...fields } as StateNotification;
}

/** One of the money notifications (money-notifications.ts); without `balance` the order's amounts stay out. */
export function moneyNotification(
  n: MoneyNotification,
  payment: NotifiedPayment,
  balance: AmountsAfter | undefined,
  id: string,
  occurredAt: Date,
): HostNotification {
  const base = { ...common(payment, id, occurredAt), ...(balance === undefined ? {} : orderAmounts(payment, balance)) };
  const money = (minor: bigint) => formatMinor(minor, payment.currency);
  switch (n.type) {
    case "LATE_PAYMENT":
      return { ...base, Type: n.type, CapturedPrice: money(n.captured) };
    case "LATE_PAYMENT_REFUNDED":
      return { ...base, Type: n.type, CapturedPrice: money(n.captured), RefundId: n.refundId, RefundPrice: money(n.refunded) };
    case "REFUND_FAILED":
      return {
        ...base,
        Type: n.type,
        RefundId: n.refundId,
        RefundPrice: money(n.refunded),
        PGCode: n.pgCode,
        FailureMessage: n.message,
        LateCapture: n.lateCapture,
      };
  }
}
