/**
 * Money the PG captured on an attempt that is not the order's paid one: a checkout the customer paid
 * while a newer PayStart superseded it, after PGB expired it, or after the PG first said it failed.
 * PGB records the capture on that attempt (never on the order's balance), then, by the tenant's
 * `lateCapture` setting, refunds it in full at the PG and tells the host (LATE_PAYMENT_REFUNDED), or
 * only tells the host (LATE_PAYMENT), who refunds it with FullCancel and that PaymentId.
 *
 * The refund row is written in the same transaction as the capture, with an id derived from the
 * attempt, before the PG is called: a process killed mid-refund leaves a PENDING row the reconciler
 * finishes with the same idempotency key, so the refund happens once and is never forgotten.
 */
import { raiseAlert } from "../alerts.ts";
import type { PgPayment } from "../ports/connector.ts";
import { tenantConfig, type CoreDeps } from "../deps.ts";
import { formatMoney, formatMinor } from "../money.ts";
import { isCaptured, isLive, type EventSource } from "../payment-state.ts";
import { appendEvent, enqueueMoneyNotification, findPayment, type Payment, recordPgTransaction } from "../../storage/payment-repository.ts";
import { insertLateCapture, insertRefund, lateRefundId, type RefundRow } from "../../storage/money-movement-repository.ts";
import { sendRefund } from "./send-refund.ts";

export async function recordLateCapture(
  deps: CoreDeps,
  payment: Payment,
  pgPayment: PgPayment,
  source: EventSource,
  trigger: Record<string, unknown>,
): Promise<Payment> {
  const mode = tenantConfig(deps, payment.tenant)?.lateCapture ?? "refund";
  const details = pgPayment.details === undefined ? undefined : JSON.stringify({ ...(payment.pgDetails ?? {}), ...pgPayment.details });
  const recorded = await deps.db.transaction().execute(async (trx) => {
    const locked = await findPayment(trx, payment.id, { forUpdate: true });
    // Only a closed attempt: a live one is settled normally, a paid one is the order's payment.
    if (locked === undefined || isCaptured(locked.status) || isLive(locked.status)) return undefined;
    if (!(await insertLateCapture(trx, deps.clock, locked, pgPayment.pgTransactionId))) return undefined;
    if (locked.pgTransactionId !== pgPayment.pgTransactionId || details !== undefined) {
      await recordPgTransaction(trx, locked.id, pgPayment.pgTransactionId, details);
    }
    const late: Payment = {
      ...locked,
      pgTransactionId: pgPayment.pgTransactionId,
      ...(details === undefined ? {} : { pgDetails: JSON.parse(details) as Record<string, unknown> }),
    };
    await appendEvent(trx, {
      paymentId: late.id,
      from: late.status,
      to: late.status,
      event: "LATE_PAYMENT",
      source,
      detail: { pgTransactionId: pgPayment.pgTransactionId, amount: formatMoney(pgPayment.amount), lateCapture: mode, ...trigger },
    });
    if (mode === "notify") {
      await enqueueMoneyNotification(trx, deps.clock, late, { type: "LATE_PAYMENT", captured: late.amount });
      return { late, refund: undefined };
    }
    const refund = await insertRefund(trx, {
      id: lateRefundId(late.id),
      paymentId: late.id,
      amount: late.amount,
      balanceBefore: late.amount,
      balanceAfter: 0n,
      idempotencyKey: null,
      fingerprint: "late-capture",
      // Held under this process's lease: if it dies before the PG answers, another process takes it over.
      leaseToken: deps.leaseToken ?? null,
    });
    await appendEvent(trx, {
      paymentId: late.id,
      from: late.status,
      to: late.status,
      event: "REFUND_REQUESTED",
      source,
      detail: { refundId: refund.id, amount: formatMinor(late.amount, late.currency), reason: "late capture" },
    });
    return { late, refund };
  });
  if (recorded === undefined) return (await findPayment(deps.db, payment.id)) ?? payment;
  await raiseAlert(deps, {
    type: "LATE_PAYMENT",
    paymentId: payment.id,
    tenant: payment.tenant,
    details: { status: payment.status, pgTransactionId: pgPayment.pgTransactionId, amount: formatMoney(pgPayment.amount), lateCapture: mode, source },
    message:
      mode === "refund"
        ? "the PG captured money on an attempt PGB had closed; refunding it"
        : "the PG captured money on an attempt PGB had closed; the host decides",
  });
  if (recorded.refund !== undefined) await refundLateCapture(deps, recorded.late, recorded.refund, source);
  return recorded.late;
}

/**
 * Sends a late capture's refund (or re-sends it: the idempotency key is the row's id). Nobody waits
 * for the answer: a refusal is a REFUND_FAILED for the host and an alert; an unclear answer leaves
 * the row for the reconciler.
 */
export async function refundLateCapture(deps: CoreDeps, payment: Payment, refund: RefundRow, source: EventSource): Promise<void> {
  await sendRefund(deps, payment, refund, { reason: "Paid on a checkout that had been closed", source: sourceOfRefund(source), answeredBy: "notification" });
}

function sourceOfRefund(source: EventSource): "HOST_API" | "WEBHOOK" | "RECONCILER" {
  return source === "HOST_API" || source === "RECONCILER" ? source : "WEBHOOK";
}
