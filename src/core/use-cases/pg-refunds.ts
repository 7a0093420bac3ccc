/**
 * Brings PGB's refunds of one payment in line with the PG's list of them, when the PG says a refund
 * changed (a refund webhook). Two things only the PG's list shows:
 *
 * - a refund PGB counted as SUCCEEDED that the PG now reports FAILED: it is reversed (settle-refund's
 *   reverseRefund: balance restored, REFUND_FAILED to the host, an alert);
 * - a refund PGB never sent (made in the PG's dashboard): it is recorded as a refund of its own, the
 *   balance follows, the host gets the usual cancel notification with `RefundOrigin: "PG"`, and an
 *   operator an alert. Keyed on the PG's refund id, so it is never counted twice.
 *
 * Refunds PGB is still waiting on are left to settle-refund (the same webhook settles them there).
 */
import { raiseAlert } from "../alerts.ts";
import type { PgRefund } from "../ports/connector.ts";
import type { CoreDeps } from "../deps.ts";
import { formatMinor } from "../money.ts";
import { isCaptured, type EventSource } from "../payment-state.ts";
import { appendEvent, balanceOf, enqueueMoneyNotification, findPayment, transition, type Payment } from "../../storage/payment-repository.ts";
import { insertExternalRefund, refundsOf } from "../../storage/money-movement-repository.ts";
import { reverseRefund } from "./settle-refund.ts";

export async function reconcilePgRefunds(deps: CoreDeps, payment: Payment, source: EventSource): Promise<void> {
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  if (connector?.listRefunds === undefined || payment.pgTransactionId === null) return;
  const atPg = await connector.listRefunds({
    pgTransactionId: payment.pgTransactionId,
    paymentReference: payment.id,
    ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
  });
  const ours = await refundsOf(deps.db, payment.id);
  for (const refund of atPg) {
    const row = ours.find((r) => (refund.pgbRefundId !== undefined && r.id === refund.pgbRefundId) || r.pg_reference === refund.pgRefundId);
    if (row !== undefined) {
      if (refund.status === "FAILED" && row.status === "SUCCEEDED") {
        await reverseRefund(deps, payment, row.id, refund.failure?.code ?? "FAILED", refund.failure?.message ?? "the PG reports the refund failed", source);
      }
      continue;
    }
    // Sent by PGB (the PG echoes its key) but not found by that key: not a dashboard refund.
    if (refund.pgbRefundId !== undefined || refund.status !== "SUCCEEDED") continue;
    if (refund.amount.currency !== payment.currency) continue;
    await recordExternalRefund(deps, payment, refund, source);
  }
}

async function recordExternalRefund(deps: CoreDeps, payment: Payment, refund: PgRefund, source: EventSource): Promise<void> {
  const recorded = await deps.db.transaction().execute(async (trx) => {
    const current = await findPayment(trx, payment.id, { forUpdate: true });
    if (current === undefined) return undefined;
    const before = await balanceOf(trx, current);
    const row = await insertExternalRefund(trx, deps.clock, {
      paymentId: current.id,
      amount: refund.amount.minor,
      balanceBefore: before.remaining,
      pgRefundId: refund.pgRefundId,
    });
    if (row === undefined) return undefined;
    const amount = formatMinor(refund.amount.minor, current.currency);
    const detail = { refundId: row.id, pgRefundId: refund.pgRefundId, amount, origin: "PG" };
    if (!isCaptured(current.status)) {
      // Refunded in the dashboard on an attempt that is not the order's (a late capture).
      await appendEvent(trx, { paymentId: current.id, from: current.status, to: current.status, event: "EXTERNAL_REFUND", source, detail });
      const balance = await balanceOf(trx, current);
      await enqueueMoneyNotification(trx, deps.clock, current, {
        type: "LATE_PAYMENT_REFUNDED",
        captured: balance.captured,
        refundId: row.id,
        refunded: refund.amount.minor,
      });
      return { row, current, exceeded: before.remaining < refund.amount.minor };
    }
    const balance = await balanceOf(trx, current);
    const to = balance.remaining <= 0n ? "CANCELLED" : "PARTIALLY_CANCELLED";
    const moved = await transition(trx, deps.clock, {
      paymentId: current.id,
      to,
      expected: current.status,
      event: "EXTERNAL_REFUND",
      source,
      detail,
      notification: { RefundPrice: amount, RefundId: row.id, RefundOrigin: "PG" },
      balance,
    });
    if (moved === undefined) throw new Error(`payment ${current.id} could not move to ${to}`);
    return { row, current, exceeded: before.remaining < refund.amount.minor };
  });
  if (recorded === undefined) return;
  await raiseAlert(deps, {
    type: "EXTERNAL_REFUND",
    subject: recorded.row.id,
    paymentId: payment.id,
    tenant: payment.tenant,
    details: {
      refundId: recorded.row.id,
      pgRefundId: refund.pgRefundId,
      amount: formatMinor(refund.amount.minor, payment.currency),
      ...(recorded.exceeded ? { exceededBalance: true } : {}),
    },
    message: "a refund was made at the PG outside PGB; recorded and the host told",
  });
}
