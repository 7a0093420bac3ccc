/**
 * Settles a refund whose outcome PGB does not know yet (PENDING at the PG, or UNKNOWN after a
 * time-out) from the PG's own answer. Shared by the reconciler and by the PG's refund webhooks, so a
 * refund is completed or failed through one path only.
 */
import { raiseAlert } from "../alerts.ts";
import { ConnectorError, type RefundLookup } from "../ports/connector.ts";
import { connectorOf, type CoreDeps } from "../deps.ts";
import { formatMinor } from "../money.ts";
import type { EventSource } from "../payment-state.ts";
import { isCaptured, REFUND_REVERSED } from "../payment-state.ts";
import { appendEvent, balanceOf, enqueueMoneyNotification, findPayment, transition, type Payment } from "../../storage/payment-repository.ts";
import { transitionRefund, type RefundRow } from "../../storage/money-movement-repository.ts";
import { refundLateCapture } from "./late-capture.ts";
import { completeRefund, failRefund } from "./refund-outcome.ts";
import { provisionalPgTransactionId, type RefundId } from "../ids.ts";

export type RefundSettlement = "succeeded" | "pending" | "failed" | "not_found";

export async function settleRefund(
  deps: CoreDeps,
  payment: Payment,
  refund: RefundRow,
  source: "WEBHOOK" | "RECONCILER",
  options: { failWhenNotFound: boolean },
): Promise<RefundSettlement> {
  const connector = connectorOf(deps, payment.tenant, payment.pg);
  const amount = { minor: BigInt(refund.amount), currency: payment.currency };
  const pgTransactionId = payment.pgTransactionId ?? provisionalPgTransactionId(payment.id);

  let lookup: RefundLookup;
  try {
    lookup = connector.lookupRefund
      ? await connector.lookupRefund({
          pgTransactionId,
          paymentReference: payment.id,
          idempotencyKey: refund.id,
          ...(refund.pg_reference ? { pgRefundId: refund.pg_reference } : {}),
          amount,
          ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
        })
      : // Without a lookup, re-sending under the same idempotency key answers the first outcome and,
        // by the connector contract, never refunds twice.
        await connector.refund({
          pgTransactionId,
          paymentReference: payment.id,
          amount,
          idempotencyKey: refund.id,
          reason: "PGB: the outcome of this refund was unknown",
          ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
        });
  } catch (error) {
    if (error instanceof ConnectorError && error.errorClass === "declined" && !connector.lookupRefund) {
      lookup = { status: "FAILED", code: error.pgCode ?? "DECLINED", message: error.message };
    } else throw error;
  }

  switch (lookup.status) {
    case "SUCCEEDED":
      await completeRefund(deps, payment, refund, lookup.pgRefundId, source);
      return "succeeded";
    case "PENDING":
      if (refund.status === "UNKNOWN" || refund.pg_reference !== lookup.pgRefundId) {
        await transitionRefund(deps.db, refund.id, { status: "PENDING", pg_reference: lookup.pgRefundId });
      }
      return "pending";
    case "FAILED":
      await failRefund(deps, payment, refund, lookup.code, lookup.message, source);
      return "failed";
    case "NOT_FOUND":
      if (!options.failWhenNotFound) return "not_found";
      if (!isCaptured(payment.status)) {
        // A late capture's refund that never reached the PG (the process died before the call):
        // nobody else will ask for it, so PGB sends it now, under the same key.
        await refundLateCapture(deps, payment, refund, source);
        return "pending";
      }
      await failRefund(deps, payment, refund, "NOT_RECEIVED", "the PG never received this refund", source);
      return "failed";
  }
}

/**
 * A refund the PG had reported succeeded and now reports failed (Stripe moves a card refund from
 * succeeded to failed when the card can no longer take it). The row becomes FAILED, the amount is back
 * in the balance (the payment's state follows it), the host gets REFUND_FAILED, an operator an alert.
 * Once only: a second report finds the row FAILED already.
 */
export async function reverseRefund(
  deps: CoreDeps,
  payment: Payment,
  refundId: RefundId,
  code: string,
  message: string,
  source: EventSource,
): Promise<boolean> {
  const reversed = await deps.db.transaction().execute(async (trx) => {
    // Only a refund that had succeeded: one that never did is failRefund's.
    const row = await transitionRefund(trx, refundId, { status: "FAILED", failure_code: code, failure_message: message }, "SUCCEEDED");
    if (row === undefined) return undefined;
    const current = (await findPayment(trx, payment.id, { forUpdate: true })) ?? payment;
    const balance = await balanceOf(trx, current);
    const notice = { type: "REFUND_FAILED" as const, refundId, refunded: BigInt(row.amount), pgCode: code, message, lateCapture: !isCaptured(current.status) };
    const detail = { refundId, pgCode: code, message, amount: formatMinor(BigInt(row.amount), current.currency) };
    if (notice.lateCapture) {
      await appendEvent(trx, { paymentId: current.id, from: current.status, to: current.status, event: "REFUND_REVERSED", source, detail });
      await enqueueMoneyNotification(trx, deps.clock, current, notice);
    } else {
      const to = balance.refunded === 0n ? "PAID" : "PARTIALLY_CANCELLED";
      const moved = await transition(trx, deps.clock, {
        paymentId: current.id,
        to,
        expected: current.status,
        event: REFUND_REVERSED,
        source,
        detail,
        notifyAs: notice,
        balance,
      });
      if (moved === undefined) throw new Error(`payment ${current.id} could not move back to ${to}`);
    }
    return row;
  });
  if (reversed === undefined) return false;
  await raiseAlert(deps, {
    type: "REFUND_FAILED",
    subject: refundId,
    paymentId: payment.id,
    tenant: payment.tenant,
    details: { refundId, pgCode: code, amount: formatMinor(BigInt(reversed.amount), payment.currency), afterSuccess: true },
    message: "the PG reports failed a refund it had reported succeeded; the amount is back in the balance and the host is told",
  });
  return true;
}
