/**
 * A refund's outcome, once known, from whichever path learns it first (the host's call, a resumed
 * refund, the reconciler, a refund webhook): completed, or failed with its reservation released.
 */
import { raiseAlert } from "../alerts.ts";
import type { CoreDeps } from "../deps.ts";
import { formatMinor } from "../money.ts";
import { canTransition, isCaptured, type EventSource } from "../payment-state.ts";
import { OPEN_REFUND_STATUSES, refundGuardOf } from "../refund-state.ts";
import { appendEvent, balanceOf, enqueueMoneyNotification, findPayment, transition, type Balance, type Payment } from "../../storage/payment-repository.ts";
import { findMovement, transitionRefund, type RefundRow } from "../../storage/money-movement-repository.ts";
import { REFUNDED_EVENT, succeedRefundAsRead, succeedRefundLockingPayment } from "../../storage/refund-statements.ts";

/**
 * The payment as the refund's reservation left it: the row's version and the balance once the refund
 * has succeeded (a PENDING refund already counts as refunded, so its success does not change it).
 */
export interface RefundAsRead {
  version: string;
  balance: Balance;
}

/**
 * Marks a refund done and moves the payment to PARTIALLY_CANCELLED or CANCELLED, notifying the host.
 * Idempotent: the host's call, the reconciler and a refund webhook may all learn the same success;
 * only the first one to lock the refund row while it is still open completes it.
 *
 * With `asRead` (the host's cancel that just reserved the refund), the whole change is one statement
 * when the payment row is still as the reservation left it; otherwise, or when the refund is no
 * longer open, that statement writes nothing and the locked transaction below decides on fresh rows.
 */
export async function completeRefund(
  deps: CoreDeps,
  payment: Payment,
  refund: RefundRow,
  pgRefundId: string,
  source: "HOST_API" | "OPERATOR" | "WEBHOOK" | "RECONCILER",
  asRead?: RefundAsRead,
): Promise<void> {
  if (asRead !== undefined && (await completeAsRead(deps, payment, refund, pgRefundId, source, asRead)) !== undefined) return;
  await deps.db.transaction().execute(async (trx) => {
    // The refund row and then its payment locked, in one statement; undefined when the refund was not open.
    const locked = await succeedRefundLockingPayment(trx, refund.id, pgRefundId, refundGuardOf("SUCCEEDED"));
    const attempt = locked?.payment;
    if (attempt !== undefined && !isCaptured(attempt.status)) {
      // The refund of a late capture (an attempt that is not the order's paid one): the attempt keeps
      // its state; the host learns that the money went back.
      await appendEvent(trx, {
        paymentId: attempt.id,
        from: attempt.status,
        to: attempt.status,
        event: "LATE_PAYMENT_REFUNDED",
        source,
        detail: { refundId: refund.id, pgRefundId, amount: formatMinor(BigInt(refund.amount), payment.currency) },
      });
      const balance = locked?.balance ?? (await balanceOf(trx, attempt));
      await enqueueMoneyNotification(trx, deps.clock, attempt, {
        type: "LATE_PAYMENT_REFUNDED",
        captured: balance.captured,
        refundId: refund.id,
        refunded: BigInt(refund.amount),
      });
      return;
    }
    if (locked === undefined) {
      const row = await findMovement(trx, refund.id);
      if (row?.status !== "FAILED") return;
      // PGB released this amount believing the PG never refunded it; the PG says it did. The balance
      // may already be promised elsewhere, so an operator decides.
      await raiseAlert(
        deps,
        {
          type: "REFUND_CONFLICT",
          paymentId: payment.id,
          tenant: payment.tenant,
          subject: refund.id,
          details: { refundId: refund.id, pgRefundId },
          message: "the PG reports a refund PGB had marked failed",
        },
        trx,
      );
      await appendEvent(trx, {
        paymentId: payment.id,
        from: payment.status,
        to: payment.status,
        event: "REFUND_CONFLICT",
        source,
        detail: { refundId: refund.id, pgRefundId },
      });
      return;
    }
    const balance = locked.balance ?? (await balanceOf(trx, payment));
    const to = statusAfterRefund(balance);
    const changed = await transition(trx, deps.clock, {
      paymentId: payment.id,
      to,
      event: REFUNDED_EVENT,
      source,
      detail: refundedDetail(payment, refund, pgRefundId),
      notification: refundedNotification(payment, refund),
      balance,
    });
    if (changed === undefined) throw new Error(`payment ${payment.id} could not move to ${to}`);
  });
}

/** The remaining balance decides: nothing left is CANCELLED. */
function statusAfterRefund(balance: Balance): "PARTIALLY_CANCELLED" | "CANCELLED" {
  return balance.remaining === 0n ? "CANCELLED" : "PARTIALLY_CANCELLED";
}

function refundedDetail(payment: Payment, refund: RefundRow, pgRefundId: string): Record<string, unknown> {
  return { refundId: refund.id, pgRefundId, amount: formatMinor(BigInt(refund.amount), payment.currency) };
}

function refundedNotification(payment: Payment, refund: RefundRow): { RefundPrice: string; RefundId: string } {
  return { RefundPrice: formatMinor(BigInt(refund.amount), payment.currency), RefundId: refund.id };
}

/**
 * The one-statement success (refund-statements.ts succeedRefundAsRead) on the payment as the
 * reservation left it; undefined when it wrote nothing. Only the order's captured payment moving by
 * a move the state table has: anything else (a late capture's refund) takes the locked path.
 */
async function completeAsRead(
  deps: CoreDeps,
  payment: Payment,
  refund: RefundRow,
  pgRefundId: string,
  source: "HOST_API" | "OPERATOR" | "WEBHOOK" | "RECONCILER",
  asRead: RefundAsRead,
): Promise<Payment | undefined> {
  const to = statusAfterRefund(asRead.balance);
  if (!isCaptured(payment.status) || !canTransition(payment.status, to, REFUNDED_EVENT)) return undefined;
  return succeedRefundAsRead(deps.db, deps.clock, payment, asRead.version, {
    refundId: refund.id,
    pgRefundId,
    openStatuses: refundGuardOf("SUCCEEDED"),
    to,
    balance: asRead.balance,
    source,
    detail: refundedDetail(payment, refund, pgRefundId),
    notification: refundedNotification(payment, refund),
    ...(deps.outbox === undefined ? {} : { handOff: deps.outbox }),
  });
}

/**
 * Releases the refund's reservation: nothing moved at the PG. Only from an open state, once. The
 * host hears of it (REFUND_FAILED): it had been told the refund was under way, or, for a late
 * capture, that PGB would give the money back.
 */
export async function failRefund(deps: CoreDeps, payment: Payment, refund: RefundRow, code: string, message: string, source: EventSource): Promise<void> {
  const failed = await deps.db.transaction().execute(async (trx) => {
    const row = await transitionRefund(trx, refund.id, { status: "FAILED", failure_code: code, failure_message: message }, OPEN_REFUND_STATUSES);
    if (row === undefined) return false;
    const current = (await findPayment(trx, payment.id, { forUpdate: true })) ?? payment;
    await appendEvent(trx, {
      paymentId: payment.id,
      from: current.status,
      to: current.status,
      event: "REFUND_FAILED",
      source,
      detail: { refundId: refund.id, pgCode: code, message, amount: formatMinor(BigInt(refund.amount), payment.currency) },
    });
    const late = !isCaptured(current.status);
    await enqueueMoneyNotification(
      trx,
      deps.clock,
      current,
      { type: "REFUND_FAILED", refundId: refund.id, refunded: BigInt(refund.amount), pgCode: code, message, lateCapture: late },
      late ? undefined : await balanceOf(trx, current),
    );
    return true;
  });
  if (failed) {
    await raiseAlert(deps, {
      type: "REFUND_FAILED",
      subject: refund.id,
      paymentId: payment.id,
      tenant: payment.tenant,
      details: { refundId: refund.id, pgCode: code, amount: formatMinor(BigInt(refund.amount), payment.currency) },
      message: "a refund PGB was waiting on failed at the PG; the host is told",
    });
  }
}
