/**
 * Taking over a refund whose process died while it waited for the PG (PENDING, no PG reference, no
 * live lease): ask the PG what became of it and, if it never arrived, send it now under its original
 * idempotency key. Done by any process's worker, or by the host's own retry of the cancel (same
 * Idempotency-Key), which then answers the refund's real outcome.
 */
import { ConnectorError } from "../ports/connector.ts";
import { claimRefundIfOrphaned, releaseRefund } from "../../storage/lease-repository.ts";
import { balanceOf, findPayment } from "../../storage/payment-repository.ts";
import { findMovement, transitionRefund } from "../../storage/money-movement-repository.ts";
import type { CoreDeps } from "../deps.ts";
import { fail, succeed, type Result } from "../errors.ts";
import { answerOf, outputOf, type CancelInput, type CancelOutput } from "./cancel-answer.ts";
import { completeRefund, failRefund } from "./refund-outcome.ts";
import { sendRefund, type RefundSend } from "./send-refund.ts";
import { connectorFailure } from "./connector-failure.ts";
import { provisionalPgTransactionId } from "../ids.ts";
import type { RefundId } from "../ids.ts";

/** The reason sent with a refund a worker (take-over or reconciler) finishes for a process that is gone. */
export const TAKEN_OVER = { reason: "PGB: finishing a refund whose process stopped" };

/** The host retried a cancel whose first attempt was reserved but never answered by the PG. */
export async function resumeLostRefund(
  deps: CoreDeps,
  refundId: RefundId,
  input: Pick<CancelInput, "reason" | "refundAccount" | "source">,
): Promise<Result<CancelOutput>> {
  if (deps.leaseToken === undefined || !(await claimRefundIfOrphaned(deps.db, refundId, deps.leaseToken))) {
    return fail("CANCEL_IN_PROGRESS", "this cancel is still waiting for the PG's answer");
  }
  return takeOverRefund(deps, refundId, input, input.source ?? "HOST_API", "caller");
}

/**
 * Finishes a refund this process has just claimed (claimOrphanedRefunds / claimRefundIfOrphaned).
 * `answeredBy`: "caller" when the host's retry answers with the outcome, "notification" when a worker
 * took it over and the host learns a failure from REFUND_FAILED (send-refund.ts).
 */
export async function takeOverRefund(
  deps: CoreDeps,
  refundId: RefundId,
  input: Pick<CancelInput, "reason" | "refundAccount">,
  source: "HOST_API" | "OPERATOR" | "RECONCILER",
  answeredBy: RefundSend["answeredBy"],
): Promise<Result<CancelOutput>> {
  const refund = await findMovement(deps.db, refundId).then((m) => (m?.kind === "REFUND" ? m : undefined));
  const payment = refund && (await findPayment(deps.db, refund.payment_id));
  if (refund === undefined || payment === undefined) return fail("INTERNAL_ERROR", `refund ${refundId} not found`);
  const paid = (await balanceOf(deps.db, payment)).captured;
  // Settled meanwhile (by the worker, say): answer what happened.
  if (refund.status === "SUCCEEDED" || (refund.status === "PENDING" && refund.pg_reference !== null))
    return succeed(outputOf(payment, refund, refund.status, true, paid));
  if (refund.status === "FAILED")
    return fail("PG_DECLINED", `the PG refused the refund: ${refund.failure_code ?? ""} ${refund.failure_message ?? ""}`.trim(), {
      pgCode: refund.failure_code,
    });
  if (refund.status !== "PENDING") return fail("CANCEL_IN_PROGRESS", "this cancel is being settled with the PG");
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  if (connector?.lookupRefund !== undefined) {
    let lookup;
    try {
      lookup = await connector.lookupRefund({
        pgTransactionId: payment.pgTransactionId ?? provisionalPgTransactionId(payment.id),
        paymentReference: payment.id,
        idempotencyKey: refund.id,
        amount: { minor: BigInt(refund.amount), currency: payment.currency },
        ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
      });
    } catch (error) {
      // The PG cannot be asked now: hand the refund back so the next pass (any process) tries again.
      await releaseRefund(deps.db, refund.id, deps.leaseToken ?? "");
      if (error instanceof ConnectorError) return connectorFailure(error, "refund");
      throw error;
    }
    deps.logger.info({ refundId, paymentId: payment.id, pgStatus: lookup.status, source }, "took over a refund whose process was gone");
    switch (lookup.status) {
      case "SUCCEEDED":
        await completeRefund(deps, payment, refund, lookup.pgRefundId, source);
        return succeed(outputOf(payment, refund, "SUCCEEDED", false, paid));
      case "PENDING":
        await transitionRefund(deps.db, refund.id, { status: "PENDING", pg_reference: lookup.pgRefundId });
        return succeed(outputOf(payment, { ...refund, pg_reference: lookup.pgRefundId }, "PENDING", false, paid));
      case "FAILED":
        await failRefund(deps, payment, refund, lookup.code, lookup.message, source);
        return fail("PG_DECLINED", `the PG refused the refund: ${lookup.code} ${lookup.message}`, { pgCode: lookup.code });
      case "NOT_FOUND":
        break; // never arrived: send it now
    }
  }
  const sent = await sendRefund(deps, payment, refund, { reason: input.reason, refundAccount: input.refundAccount, source, answeredBy });
  return answerOf(sent, payment, refund, paid);
}
