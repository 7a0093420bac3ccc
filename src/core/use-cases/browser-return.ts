/**
 * The customer's browser comes back from the PG to PGB. PGB lets the connector do what the PG needs
 * (a confirm call, say), settles the payment from the PG's answer — never from the query string —
 * and sends the browser on to the host's RedirectUrl with the order id and the result.
 */
import { ConnectorError } from "../ports/connector.ts";
import type { CoreDeps } from "../deps.ts";
import { findPayment } from "../../storage/payment-repository.ts";
import { settlePayment } from "./settle-payment.ts";
import type { PaymentId } from "../ids.ts";

export type ReturnOutcome = { kind: "redirect"; location: string } | { kind: "not-found" };

export async function browserReturn(deps: CoreDeps, pg: string, paymentId: PaymentId, query: Record<string, string>): Promise<ReturnOutcome> {
  const payment = await findPayment(deps.db, paymentId);
  if (payment === undefined || payment.pg !== pg) return { kind: "not-found" };
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  let current = payment;
  let resumeUrl: string | undefined;
  if (connector !== undefined && (payment.status === "READY" || payment.status === "WAITING_FOR_DEPOSIT")) {
    try {
      const pgPayment = await connector.handleReturn({
        pgTransactionId: payment.pgTransactionId,
        paymentReference: payment.id,
        amount: { minor: payment.amount, currency: payment.currency },
        query,
        ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
      });
      current = (await settlePayment(deps, payment, pgPayment, "BROWSER_RETURN")).payment;
      if (pgPayment.status === "PENDING" && current.status === "READY" && pgPayment.resumeUrl !== undefined && URL.canParse(pgPayment.resumeUrl))
        resumeUrl = pgPayment.resumeUrl;
    } catch (error) {
      if (!(error instanceof ConnectorError)) throw error;
      // The host's page learns the outcome from PGB later (notification or GET /PGB/Payment).
      deps.logger.warn({ paymentId, pg, errorClass: error.errorClass, pgCode: error.pgCode }, "browser return could not be settled with the PG");
    }
  } else if (
    connector !== undefined &&
    payment.pgTransactionId !== null &&
    (payment.status === "SUPERSEDED" || payment.status === "EXPIRED" || payment.status === "FAILED")
  ) {
    // A customer back from a checkout PGB had closed may still have paid it: read (never confirm) the
    // PG's record, so a late capture is found now rather than by the next webhook or reconciler pass.
    try {
      const pgPayment = await connector.fetchPayment({
        pgTransactionId: payment.pgTransactionId,
        paymentReference: payment.id,
        ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
      });
      if (pgPayment.status === "PAID") await settlePayment(deps, payment, pgPayment, "BROWSER_RETURN");
    } catch (error) {
      if (!(error instanceof ConnectorError)) throw error;
      deps.logger.warn({ paymentId, pg, errorClass: error.errorClass, pgCode: error.pgCode }, "could not read a closed checkout back from the PG");
    }
  }
  // The PG asks for the customer back (to choose another way to pay): the attempt is still open.
  if (resumeUrl !== undefined) return { kind: "redirect", location: resumeUrl };
  const target = new URL(current.hostRedirectUrl);
  target.searchParams.set("DBType", current.tenant);
  target.searchParams.set("OrderId", String(current.orderId));
  target.searchParams.set("PaymentId", current.id);
  target.searchParams.set("Result", resultOf(current.status));
  return { kind: "redirect", location: target.toString() };
}

/** What the host's page is told. It must not trust it: the signed notification is the truth. */
function resultOf(status: string): string {
  switch (status) {
    case "PAID":
    case "PARTIALLY_CANCELLED":
    case "CANCELLED":
      return "PAID";
    case "WAITING_FOR_DEPOSIT":
      return "WAITING_FOR_DEPOSIT";
    case "FAILED":
    case "EXPIRED":
    case "SUPERSEDED":
      return "FAILED";
    default:
      return "PENDING";
  }
}
