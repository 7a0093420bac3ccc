/**
 * What a cancel is asked (CancelInput) and what the host is answered (CancelOutput), shared by the
 * host's cancel (cancel-payment.ts) and the resumed refund (resume-refund.ts).
 */
import type { Money } from "../money.ts";
import type { CurrencyCode } from "../currency.ts";
import type { PaymentId, RefundId } from "../ids.ts";
import { fail, succeed, type Result } from "../errors.ts";
import type { Payment } from "../../storage/payment-repository.ts";
import type { RefundRow } from "../../storage/money-movement-repository.ts";
import { connectorFailure } from "./connector-failure.ts";
import type { RefundSent } from "./send-refund.ts";

export interface CancelInput {
  tenant: string;
  orderId: number;
  nationCode: string;
  /** What the host believes the balance is. */
  current: Money;
  /** undefined = the whole balance (FullCancel). */
  refund: Money | undefined;
  /** What the host expects to remain; undefined = zero (FullCancel). */
  modified: Money | undefined;
  /** FullCancel names the PG and pay type it believes the order was paid with. */
  expectPg?: string;
  expectPayType?: string;
  idempotencyKey: string | undefined;
  /** FullCancel of one attempt: a late capture the host was told of (LATE_PAYMENT), or the order's paid one. */
  paymentId?: PaymentId;
  refundAccount?: { bank: string; accountNumber: string; holderName: string };
  reason: string;
  /** Who asked: the host's API (default) or an operator in the console; recorded in the history. */
  source?: "HOST_API" | "OPERATOR";
}

export interface CancelOutput {
  paymentId: PaymentId;
  refundId: RefundId;
  currency: CurrencyCode;
  refunded: bigint;
  balanceBefore: bigint;
  balanceAfter: bigint;
  paid: bigint;
  /** PENDING: the PG accepted the refund and settles it later; the host is notified then. */
  refundStatus: "SUCCEEDED" | "PENDING";
  /** True when this answer replays an earlier identical cancel. */
  replayed: boolean;
}

/** What the host is told of a refund PGB sent. */
export function answerOf(sent: RefundSent, payment: Payment, refund: RefundRow, paid: bigint): Result<CancelOutput> {
  switch (sent.status) {
    case "ERROR":
      return connectorFailure(sent.error, "refund");
    case "FAILED":
      return fail("PG_DECLINED", `the PG refused the refund: ${sent.code} ${sent.message}`, { pgCode: sent.code });
    case "PENDING":
      return succeed(outputOf(payment, { ...refund, pg_reference: sent.pgRefundId }, "PENDING", false, paid));
    case "SUCCEEDED":
      return succeed(outputOf(payment, refund, "SUCCEEDED", false, paid));
  }
}

export function outputOf(payment: Payment, refund: RefundRow, status: "SUCCEEDED" | "PENDING", replayed: boolean, paid = payment.amount): CancelOutput {
  return {
    paymentId: payment.id,
    refundId: refund.id,
    currency: payment.currency,
    refunded: BigInt(refund.amount),
    balanceBefore: BigInt(refund.balance_before ?? 0),
    balanceAfter: BigInt(refund.balance_after ?? 0),
    paid,
    refundStatus: status,
    replayed,
  };
}
