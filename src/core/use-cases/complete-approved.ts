/**
 * A customer who finished at the PG but never came back: where the PG moves the money only when PGB
 * completes the payment (PgPayment.needsCompletion), a webhook or the reconciler completes it for
 * an attempt that is still open, exactly as the browser return would have. A closed attempt is
 * never completed.
 */
import type { Connector, PgPayment } from "../ports/connector.ts";
import type { Payment } from "../../storage/payment-repository.ts";

export async function completeIfApproved(connector: Connector, payment: Payment, pgPayment: PgPayment): Promise<PgPayment> {
  if (pgPayment.needsCompletion !== true || payment.status !== "READY" || payment.pgTransactionId === null) return pgPayment;
  return connector.handleReturn({
    pgTransactionId: payment.pgTransactionId,
    paymentReference: payment.id,
    amount: { minor: payment.amount, currency: payment.currency },
    query: {},
    ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
  });
}
