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
import { ConnectorError, type PgPayment } from "../ports/connector.ts";
import { tenantConfig, type CoreDeps } from "../deps.ts";
import { formatMoney, formatMinor } from "../money.ts";
import { isCaptured, isLive, type EventSource } from "../payment-state.ts";
import { appendEvent, enqueueMoneyNotification, findPayment, type Payment, recordPgTransaction } from "../../storage/payment-repository.ts";
import { insertLateCapture, insertRefund, lateRefundId, transitionRefund } from "../../storage/money-movement-repository.ts";
import type { MoneyMovementRow } from "../../storage/schema.ts";
import { completeRefund } from "./cancel-payment.ts";
import { failRefund } from "./settle-refund.ts";

export async function recordLateCapture(deps: CoreDeps, payment: Payment, pgPayment: PgPayment, source: EventSource, trigger: Record<string, unknown>): Promise<Payment> {
  const mode = tenantConfig(deps, payment.tenant)?.lateCapture ?? "refund";
  const details = pgPayment.details === undefined ? undefined : JSON.stringify({ ...(payment.pgDetails ?? {}), ...pgPayment.details });
  const recorded = await deps.db.transaction().execute(async (trx) => {
    const locked = await findPayment(trx, payment.id, { forUpdate: true });
    // Only a closed attempt: a live one is settled normally, a paid one is the order's payment.
    if (locked === undefined || isCaptured(locked.status) || isLive(locked.status)) return undefined;
    if (!(await insertLateCapture(trx, locked, pgPayment.pgTransactionId))) return undefined;
    if (locked.pgTransactionId !== pgPayment.pgTransactionId || details !== undefined) {
      await recordPgTransaction(trx, locked.id, pgPayment.pgTransactionId, details);
    }
    const late: Payment = { ...locked, pgTransactionId: pgPayment.pgTransactionId, ...(details === undefined ? {} : { pgDetails: JSON.parse(details) as Record<string, unknown> }) };
    await appendEvent(trx, {
      paymentId: late.id,
      from: late.status,
      to: late.status,
      event: "LATE_PAYMENT",
      source,
      detail: { pgTransactionId: pgPayment.pgTransactionId, amount: formatMoney(pgPayment.amount), lateCapture: mode, ...trigger },
    });
    if (mode === "notify") {
      await enqueueMoneyNotification(trx, late, { type: "LATE_PAYMENT", captured: late.amount });
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
    message: mode === "refund" ? "the PG captured money on an attempt PGB had closed; refunding it" : "the PG captured money on an attempt PGB had closed; the host decides",
  });
  if (recorded.refund !== undefined) await refundLateCapture(deps, recorded.late, recorded.refund, source);
  return recorded.late;
}

/**
 * Sends a late capture's refund (or re-sends it: the idempotency key is the row's id). A refusal is a
 * REFUND_FAILED for the host and an alert; an unclear answer leaves the row for the reconciler.
 */
export async function refundLateCapture(deps: CoreDeps, payment: Payment, refund: MoneyMovementRow, source: EventSource): Promise<void> {
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  try {
    if (connector === undefined) throw new ConnectorError("retryable", `PG ${payment.pg} is not configured for ${payment.tenant}`);
    const outcome = await connector.refund({
      pgTransactionId: payment.pgTransactionId ?? payment.id,
      paymentReference: payment.id,
      amount: { minor: BigInt(refund.amount), currency: payment.currency },
      idempotencyKey: refund.id,
      reason: "Paid on a checkout that had been closed",
      ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
    });
    if (outcome.status === "SUCCEEDED") await completeRefund(deps, payment, refund, outcome.pgRefundId, sourceOfRefund(source));
    else if (outcome.status === "PENDING") await transitionRefund(deps.db, refund.id, { status: "PENDING", pg_reference: outcome.pgRefundId });
    else await failRefund(deps, payment, refund, outcome.code, outcome.message, source);
  } catch (error) {
    if (!(error instanceof ConnectorError)) throw error;
    if (error.errorClass === "declined") {
      await failRefund(deps, payment, refund, error.pgCode ?? "DECLINED", error.message, source);
      return;
    }
    // Not refused: it may have happened, or may be tried again. The reconciler asks the PG and, if
    // the PG never got it, sends it again under the same key.
    // Only while still open: the reconciler may have settled it while this call hung.
    await transitionRefund(deps.db, refund.id, { status: "UNKNOWN", failure_code: error.pgCode ?? error.errorClass.toUpperCase(), failure_message: error.message }, "PENDING");
    deps.logger.warn({ paymentId: payment.id, refundId: refund.id, errorClass: error.errorClass, err: error.message }, "late capture refund not confirmed; the reconciler will settle it");
  }
}

function sourceOfRefund(source: EventSource): "HOST_API" | "WEBHOOK" | "RECONCILER" {
  return source === "HOST_API" || source === "RECONCILER" ? source : "WEBHOOK";
}
