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

export const PAYMENT_STATUSES = ["READY", "WAITING_FOR_DEPOSIT", "PAID", "PARTIALLY_CANCELLED", "CANCELLED", "FAILED", "EXPIRED", "SUPERSEDED"] as const;
export const PaymentStatusSchema = z.enum(PAYMENT_STATUSES);
export type PaymentStatus = z.infer<typeof PaymentStatusSchema>;

/**
 * The payment state table: the only authority on which state may follow which. `transition`
 * (src/storage/payment-repository.ts) takes its guard from here; a move not listed is refused.
 */
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

/**
 * A refund the PG fails after reporting it succeeded gives its amount back: the payment moves back
 * towards PAID. These edges hold only for that event, so nothing else (a late PAID webhook, say) can
 * take a refunded payment back.
 */
export const REFUND_REVERSED = "REFUND_REVERSED";
const REVERSALS: Readonly<Partial<Record<PaymentStatus, readonly PaymentStatus[]>>> = {
  PARTIALLY_CANCELLED: ["PARTIALLY_CANCELLED", "PAID"],
  CANCELLED: ["PARTIALLY_CANCELLED", "PAID"],
};

function edgesFor(event: string): Readonly<Partial<Record<PaymentStatus, readonly PaymentStatus[]>>> {
  return event === REFUND_REVERSED ? REVERSALS : TRANSITIONS;
}

/** Whether the table has the move `from` → `to` for `event` (any event but REFUND_REVERSED: the forward table). */
export function canTransition(from: PaymentStatus, to: PaymentStatus, event = ""): boolean {
  return edgesFor(event)[from]?.includes(to) ?? false;
}

/** The states a transition to `to` may start from; used as the guard of a conditional UPDATE. */
export function sourcesOf(to: PaymentStatus, event = ""): PaymentStatus[] {
  return PAYMENT_STATUSES.filter((from) => canTransition(from, to, event));
}

export class IllegalTransition extends Error {
  constructor(from: readonly PaymentStatus[], to: PaymentStatus, event: string) {
    super(`the payment state table has no move from ${from.length === 0 ? "any state" : from.join(" or ")} to ${to} on ${event}`);
    this.name = "IllegalTransition";
  }
}

/**
 * The guard of a transition: the table's sources of `to` for `event`, narrowed to `expected` when the
 * caller decided on the state it read (a move that is not in the table throws, it is a defect).
 */
export function guardOf(to: PaymentStatus, event: string, expected?: PaymentStatus): PaymentStatus[] {
  const sources = sourcesOf(to, event);
  if (expected === undefined) {
    if (sources.length === 0) throw new IllegalTransition([], to, event);
    return sources;
  }
  if (!sources.includes(expected)) throw new IllegalTransition([expected], to, event);
  return [expected];
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
