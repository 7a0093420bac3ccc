/**
 * Sends a reserved refund (a PENDING money_movements row) to its PG under its idempotency key — the
 * row's id, so a second send by another process never refunds twice — and records the PG's answer.
 * The one send used by the host's cancel, a late capture's refund and the take-over of a refund whose
 * process died.
 *
 * Who hears of a failure depends on who is waiting for the answer:
 * - `"caller"` (the host's cancel, or its retry): the caller answers the host synchronously, so a
 *   refusal only records REFUND_FAILED in the history; a failure that may have moved money leaves
 *   the row UNKNOWN for the reconciler, any other failure releases the reservation.
 * - `"notification"` (nobody is waiting: a late capture, a worker's take-over): a refusal is a
 *   REFUND_FAILED notification and an alert (failRefund); any other failure leaves the row UNKNOWN,
 *   because the reconciler is then the only one who will ever ask the PG about it again.
 */
import { ConnectorError } from "../ports/connector.ts";
import { notConfigured, type CoreDeps } from "../deps.ts";
import { appendEvent, type Payment } from "../../storage/payment-repository.ts";
import { transitionRefund, type RefundRow } from "../../storage/money-movement-repository.ts";
import { OPEN_REFUND_STATUSES } from "../refund-state.ts";
import { completeRefund, failRefund, type RefundAsRead } from "./refund-outcome.ts";
import { provisionalPgTransactionId } from "../ids.ts";

export interface RefundSend {
  reason: string;
  refundAccount?: { bank: string; accountNumber: string; holderName: string } | undefined;
  source: "HOST_API" | "OPERATOR" | "WEBHOOK" | "RECONCILER";
  answeredBy: "caller" | "notification";
  /** The payment as the reservation left it: a success is then written in one statement when it still is. */
  asRead?: RefundAsRead | undefined;
}

export type RefundSent =
  | { status: "SUCCEEDED" | "PENDING"; pgRefundId: string }
  | { status: "FAILED"; code: string; message: string }
  /** The call failed without the PG's verdict; the row is UNKNOWN (or released, for a caller). */
  | { status: "ERROR"; error: ConnectorError };

export async function sendRefund(deps: CoreDeps, payment: Payment, refund: RefundRow, send: RefundSend): Promise<RefundSent> {
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  let outcome;
  try {
    if (connector === undefined) throw notConfigured(payment.tenant, payment.pg);
    outcome = await connector.refund({
      pgTransactionId: payment.pgTransactionId ?? provisionalPgTransactionId(payment.id),
      paymentReference: payment.id,
      amount: { minor: BigInt(refund.amount), currency: payment.currency },
      idempotencyKey: refund.id,
      reason: send.reason,
      ...(send.refundAccount ? { refundAccount: send.refundAccount } : {}),
      ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
    });
  } catch (error) {
    if (!(error instanceof ConnectorError)) throw error;
    if (send.answeredBy === "notification" && error.errorClass === "declined") {
      await failRefund(deps, payment, refund, error.pgCode ?? "DECLINED", error.message, send.source);
      return { status: "FAILED", code: error.pgCode ?? "DECLINED", message: error.message };
    }
    // Only an indeterminate failure may have moved money; with nobody waiting, any failure stays open
    // for the reconciler to ask the PG about.
    const status = send.answeredBy === "caller" && error.errorClass !== "indeterminate" ? "FAILED" : "UNKNOWN";
    await recordUnsettled(deps, payment, refund, status, error, send.source);
    if (status === "UNKNOWN")
      deps.logger.warn(
        { paymentId: payment.id, refundId: refund.id, errorClass: error.errorClass, err: error.message },
        "refund not confirmed by the PG; the reconciler will settle it",
      );
    return { status: "ERROR", error };
  }

  switch (outcome.status) {
    case "SUCCEEDED":
      await completeRefund(deps, payment, refund, outcome.pgRefundId, send.source, send.asRead);
      return { status: "SUCCEEDED", pgRefundId: outcome.pgRefundId };
    case "PENDING":
      await transitionRefund(deps.db, refund.id, { status: "PENDING", pg_reference: outcome.pgRefundId });
      return { status: "PENDING", pgRefundId: outcome.pgRefundId };
    case "FAILED":
      if (send.answeredBy === "notification") await failRefund(deps, payment, refund, outcome.code, outcome.message, send.source);
      else {
        await deps.db.transaction().execute(async (trx) => {
          await transitionRefund(
            trx,
            refund.id,
            { status: "FAILED", pg_reference: outcome.pgRefundId ?? null, failure_code: outcome.code, failure_message: outcome.message },
            OPEN_REFUND_STATUSES,
          );
          await appendEvent(trx, {
            paymentId: payment.id,
            from: payment.status,
            to: payment.status,
            event: "REFUND_FAILED",
            source: send.source,
            detail: { refundId: refund.id, pgCode: outcome.code, message: outcome.message },
          });
        });
      }
      return { status: "FAILED", code: outcome.code, message: outcome.message };
  }
}

/** Marks the refund UNKNOWN or FAILED after a failed call, only while it is still open (the reconciler may have settled it while the call hung). */
async function recordUnsettled(
  deps: CoreDeps,
  payment: Payment,
  refund: RefundRow,
  status: "UNKNOWN" | "FAILED",
  error: ConnectorError,
  source: RefundSend["source"],
): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    // An UNKNOWN row that fails to resolve again stays as it is: the table has no UNKNOWN → UNKNOWN move.
    const moved = await transitionRefund(
      trx,
      refund.id,
      { status, failure_code: error.pgCode ?? error.errorClass.toUpperCase(), failure_message: error.message },
      status === "UNKNOWN" ? "PENDING" : OPEN_REFUND_STATUSES,
    );
    if (moved === undefined) return;
    await appendEvent(trx, {
      paymentId: payment.id,
      from: payment.status,
      to: payment.status,
      event: status === "UNKNOWN" ? "REFUND_UNKNOWN" : "REFUND_FAILED",
      source,
      detail: { refundId: refund.id, errorClass: error.errorClass, pgCode: error.pgCode ?? null, message: error.message },
    });
  });
}
