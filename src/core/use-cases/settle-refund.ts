/**
 * Settles a refund whose outcome PGB does not know yet (PENDING at the PG, or UNKNOWN after a
 * time-out) from the PG's own answer. Shared by the reconciler and by the PG's refund webhooks, so a
 * refund is completed or failed through one path only.
 */
import { ConnectorError, type RefundLookup } from "../ports/connector.ts";
import { connectorOf, type CoreDeps } from "../deps.ts";
import { formatMinor } from "../money.ts";
import type { EventSource } from "../payment-state.ts";
import { appendEvent, updateMovement, type Payment } from "../../storage/payment-repository.ts";
import type { MoneyMovementRow } from "../../storage/schema.ts";
import { completeRefund } from "./cancel-payment.ts";

export type RefundSettlement = "succeeded" | "pending" | "failed" | "not_found";

export async function settleRefund(
  deps: CoreDeps,
  payment: Payment,
  refund: MoneyMovementRow,
  source: "WEBHOOK" | "RECONCILER",
  options: { failWhenNotFound: boolean },
): Promise<RefundSettlement> {
  const connector = connectorOf(deps, payment.tenant, payment.pg);
  const amount = { minor: BigInt(refund.amount), currency: payment.currency };
  const pgTransactionId = payment.pgTransactionId ?? payment.id;

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
        await updateMovement(deps.db, refund.id, { status: "PENDING", pg_reference: lookup.pgRefundId });
      }
      return "pending";
    case "FAILED":
      await failRefund(deps, payment, refund, lookup.code, lookup.message, source);
      return "failed";
    case "NOT_FOUND":
      if (!options.failWhenNotFound) return "not_found";
      await failRefund(deps, payment, refund, "NOT_RECEIVED", "the PG never received this refund", source);
      return "failed";
  }
}

/** Releases the refund's reservation: nothing moved at the PG. Only from an open state, once. */
export async function failRefund(deps: CoreDeps, payment: Payment, refund: MoneyMovementRow, code: string, message: string, source: EventSource): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom("money_movements").select("status").where("id", "=", refund.id).forUpdate().executeTakeFirst();
    if (row === undefined || (row.status !== "PENDING" && row.status !== "UNKNOWN")) return;
    await updateMovement(trx, refund.id, { status: "FAILED", failure_code: code, failure_message: message });
    await appendEvent(trx, {
      paymentId: payment.id,
      from: payment.status,
      to: payment.status,
      event: "REFUND_FAILED",
      source,
      detail: { refundId: refund.id, pgCode: code, message, amount: formatMinor(BigInt(refund.amount), payment.currency) },
    });
  });
}
