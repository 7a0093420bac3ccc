/**
 * The refund state table. A refund is a `money_movements` row of kind REFUND; its amount is reserved
 * against the payment's balance while it is not FAILED. `transitionRefund`
 * (src/storage/money-movement-repository.ts) takes its guard from here; a move not listed is refused.
 */
import { z } from "zod";

export const REFUND_STATUSES = ["PENDING", "UNKNOWN", "SUCCEEDED", "FAILED"] as const;
export const RefundStatusSchema = z.enum(REFUND_STATUSES);
export type RefundStatus = z.infer<typeof RefundStatusSchema>;

const REFUND_TRANSITIONS: Readonly<Record<RefundStatus, readonly RefundStatus[]>> = {
  // PENDING → PENDING: the PG named its refund (its reference) while it is still under way.
  PENDING: ["PENDING", "SUCCEEDED", "FAILED", "UNKNOWN"],
  // The call's answer was lost; asking the PG tells which of these it is.
  UNKNOWN: ["PENDING", "SUCCEEDED", "FAILED"],
  // The PG failed a refund after reporting it succeeded: the amount is back in the balance.
  SUCCEEDED: ["FAILED"],
  FAILED: [],
};

export function canRefundTransition(from: RefundStatus, to: RefundStatus): boolean {
  return REFUND_TRANSITIONS[from].includes(to);
}

export function refundSourcesOf(to: RefundStatus): RefundStatus[] {
  return REFUND_STATUSES.filter((from) => canRefundTransition(from, to));
}

/** Not settled yet: the PG may still refund it. */
export const OPEN_REFUND_STATUSES = ["PENDING", "UNKNOWN"] as const satisfies readonly RefundStatus[];

export class IllegalRefundTransition extends Error {
  constructor(from: readonly RefundStatus[], to: RefundStatus) {
    super(`the refund state table has no move from ${from.length === 0 ? "any state" : from.join(" or ")} to ${to}`);
    this.name = "IllegalRefundTransition";
  }
}

/**
 * The guard of a refund's move: the table's sources of `to`, narrowed to `expected` when the caller
 * names the states it means (a state the table does not allow into `to` throws: it is a defect).
 */
export function refundGuardOf(to: RefundStatus, expected?: RefundStatus | readonly RefundStatus[]): RefundStatus[] {
  const sources = refundSourcesOf(to);
  if (expected === undefined) {
    if (sources.length === 0) throw new IllegalRefundTransition([], to);
    return sources;
  }
  const named: readonly RefundStatus[] = typeof expected === "string" ? [expected] : expected;
  const refused = named.filter((from) => !sources.includes(from));
  if (named.length === 0 || refused.length > 0) throw new IllegalRefundTransition(refused, to);
  return [...named];
}
