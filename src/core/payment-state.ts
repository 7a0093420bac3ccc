/**
 * The payment state machine (README, "Payment state"). One payment per PayStart attempt.
 *
 *   READY ──▶ WAITING_FOR_DEPOSIT ──▶ PAID ──▶ PARTIALLY_CANCELLED ──▶ CANCELLED
 *     │  ╲            │                  ╲──────────────────────────────▶ CANCELLED
 *     │   ╲──▶ PAID   └──▶ FAILED / EXPIRED / SUPERSEDED
 *     └──▶ FAILED / EXPIRED / SUPERSEDED
 *
 * A payment row is written once its checkout exists at the PG, so it starts READY.
 * SUPERSEDED is an attempt replaced by a newer PayStart for the same order; the host caused it, so
 * it is not notified.
 */
import { z } from "zod";

export const PAYMENT_STATUSES = [
  "READY",
  "WAITING_FOR_DEPOSIT",
  "PAID",
  "PARTIALLY_CANCELLED",
  "CANCELLED",
  "FAILED",
  "EXPIRED",
  "SUPERSEDED",
] as const;
export const PaymentStatusSchema = z.enum(PAYMENT_STATUSES);
export type PaymentStatus = z.infer<typeof PaymentStatusSchema>;

const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  READY: ["WAITING_FOR_DEPOSIT", "PAID", "FAILED", "EXPIRED", "SUPERSEDED"],
  WAITING_FOR_DEPOSIT: ["PAID", "FAILED", "EXPIRED", "SUPERSEDED"],
  PAID: ["PARTIALLY_CANCELLED", "CANCELLED"],
  PARTIALLY_CANCELLED: ["PARTIALLY_CANCELLED", "CANCELLED"],
  CANCELLED: [],
  FAILED: [],
  EXPIRED: [],
  SUPERSEDED: [],
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states a transition to `to` may start from; used as the guard of a conditional UPDATE. */
export function sourcesOf(to: PaymentStatus): PaymentStatus[] {
  return PAYMENT_STATUSES.filter((from) => TRANSITIONS[from].includes(to));
}

/** A checkout the customer can still pay: at most one per order. */
export const LIVE_STATUSES = ["READY", "WAITING_FOR_DEPOSIT"] as const satisfies readonly PaymentStatus[];
/** Money was captured: at most one per order. */
export const CAPTURED_STATUSES = ["PAID", "PARTIALLY_CANCELLED", "CANCELLED"] as const satisfies readonly PaymentStatus[];

export function isLive(status: PaymentStatus): boolean {
  return (LIVE_STATUSES as readonly PaymentStatus[]).includes(status);
}
export function isCaptured(status: PaymentStatus): boolean {
  return (CAPTURED_STATUSES as readonly PaymentStatus[]).includes(status);
}

/** What the host is told (README, "Delivery to the host"). */
export const NOTIFICATION_TYPES = [
  "PAYMENT_COMPLETED",
  "DEPOSIT_WAITING",
  "PAYMENT_FAILED",
  "PAYMENT_EXPIRED",
  "PAYMENT_PARTIALLY_CANCELLED",
  "PAYMENT_CANCELLED",
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** Which notification a transition produces; undefined = the host is not told. */
export function notificationFor(from: PaymentStatus, to: PaymentStatus): NotificationType | undefined {
  if (from === to && to !== "PARTIALLY_CANCELLED") return undefined;
  switch (to) {
    case "PAID":
      return "PAYMENT_COMPLETED";
    case "WAITING_FOR_DEPOSIT":
      return "DEPOSIT_WAITING";
    case "FAILED":
      return "PAYMENT_FAILED";
    case "EXPIRED":
      return "PAYMENT_EXPIRED";
    case "PARTIALLY_CANCELLED":
      return "PAYMENT_PARTIALLY_CANCELLED";
    case "CANCELLED":
      return "PAYMENT_CANCELLED";
    case "READY":
    case "SUPERSEDED":
      return undefined;
  }
}

export const EVENT_SOURCES = ["HOST_API", "WEBHOOK", "BROWSER_RETURN", "RECONCILER", "OPERATOR"] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];
