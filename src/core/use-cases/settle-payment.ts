/**
 * Applies what the PG says about a payment (fetched by PGB itself, never taken from a webhook body or
 * a browser's query string) to PGB's record. Used by webhooks, browser returns and the reconciler
 * alike, so a webhook racing the browser completes the payment exactly once: the second one finds the
 * guard already moved and changes nothing.
 */
import type { PgPayment } from "../ports/connector.ts";
import type { HostVirtualAccount } from "../host-notification.ts";
import { raiseAlert } from "../alerts.ts";
import { assertUnreachable } from "../errors.ts";
import { formatMoney } from "../money.ts";
import type { EventSource, PaymentStatus } from "../payment-state.ts";
import type { CoreDeps } from "../deps.ts";
import { recordLateCapture } from "./late-capture.ts";
import { appendEvent, findPayment, transition, type Payment } from "../../storage/payment-repository.ts";
import { transitionAsRead } from "../../storage/transition-as-read.ts";
import { insertCapture } from "../../storage/money-movement-repository.ts";
import { processedWithMove } from "../../storage/webhook-repository.ts";
import { provisionalPgTransactionId } from "../ids.ts";

export type SettleOutcome =
  /** `webhookProcessed`: the webhook named in the options was marked PROCESSED with the move. */
  | { kind: "changed"; payment: Payment; webhookProcessed?: true }
  | { kind: "unchanged"; payment: Payment }
  /** The PG's answer contradicts PGB's record (amount, currency or reference): never acted upon. */
  | { kind: "mismatch"; payment: Payment; reason: string };

export async function settlePayment(
  deps: CoreDeps,
  payment: Payment,
  pgPayment: PgPayment,
  source: EventSource,
  trigger: Record<string, unknown> = {},
  options: {
    /**
     * The stored webhook this settle acts on, when nothing else is left to do for it: marked
     * PROCESSED in the same statement as the move, where the move takes the one-statement path.
     */
    webhookProcessed?: string;
  } = {},
): Promise<SettleOutcome> {
  const mismatch = mismatchOf(payment, pgPayment);
  if (mismatch !== undefined) {
    await raiseAlert(deps, {
      type: "PG_MISMATCH",
      paymentId: payment.id,
      tenant: payment.tenant,
      details: { pg: payment.pg, pgTransactionId: pgPayment.pgTransactionId, reason: mismatch, source },
      message: "the PG's record of a payment does not match PGB's; not acting on it",
    });
    await appendEvent(deps.db, {
      paymentId: payment.id,
      from: payment.status,
      to: payment.status,
      event: "PG_MISMATCH",
      source,
      detail: { reason: mismatch, ...trigger },
    });
    return { kind: "mismatch", payment, reason: mismatch };
  }

  const target = targetStatus(pgPayment);
  if (target === undefined || target === payment.status) return { kind: "unchanged", payment };

  if (target === "PAID" && isClosed(payment.status)) {
    // Paid at the PG after PGB closed this attempt: money arrived that no live attempt expects. It is
    // recorded on this attempt and refunded (or the host told), never silently kept or dropped.
    const late = await recordLateCapture(deps, payment, pgPayment, source, trigger);
    return { kind: "unchanged", payment: late };
  }

  if (target === "WAITING_FOR_DEPOSIT" && (payment.status === "PAID" || payment.status === "PARTIALLY_CANCELLED" || payment.status === "CANCELLED")) {
    // A virtual-account deposit the bank reversed after the PG reported it (Toss moves DONE back to
    // WAITING_FOR_DEPOSIT). PGB already told the host PAID: an operator has to look at this order.
    await raiseAlert(deps, {
      type: "DEPOSIT_REVERSED",
      paymentId: payment.id,
      tenant: payment.tenant,
      details: { status: payment.status, pgTransactionId: pgPayment.pgTransactionId, source },
      message: "the PG reports a deposit reversed on a paid payment",
    });
    await appendEvent(deps.db, {
      paymentId: payment.id,
      from: payment.status,
      to: payment.status,
      event: "DEPOSIT_REVERSED",
      source,
      detail: { pgTransactionId: pgPayment.pgTransactionId, ...trigger },
    });
    return { kind: "unchanged", payment };
  }

  const details =
    pgPayment.details === undefined && pgPayment.virtualAccount === undefined
      ? undefined
      : JSON.stringify({
          ...(payment.pgDetails ?? {}),
          ...(pgPayment.details ?? {}),
          ...(pgPayment.virtualAccount ? { virtualAccount: pgPayment.virtualAccount } : {}),
        });
  const paidPatch = { paid_at: deps.clock.now(), pg_transaction_id: pgPayment.pgTransactionId, ...(details ? { pg_details: details } : {}) };
  const common = {
    paymentId: payment.id,
    source,
    detail: { pgStatus: pgPayment.status, pgTransactionId: pgPayment.pgTransactionId, amount: formatMoney(pgPayment.amount), ...trigger },
  };

  if (target === "PAID" && (payment.status === "READY" || payment.status === "WAITING_FOR_DEPOSIT")) {
    // The common case, in one statement guarded by the state just read: from a live attempt nothing was
    // captured or refunded before, so the balance is the capture written with the move. A row that
    // moved since the read goes the long way below, which decides on the state it finds.
    const paid = await transitionAsRead(deps.db, deps.clock, payment, {
      ...common,
      to: "PAID",
      event: "PAID",
      patch: paidPatch,
      capture: { pgReference: pgPayment.pgTransactionId },
      balance: { captured: payment.amount, refunded: 0n, remaining: payment.amount, inFlight: 0 },
      ...(options.webhookProcessed === undefined ? {} : { alongside: processedWithMove(options.webhookProcessed) }),
      ...(deps.outbox === undefined ? {} : { handOff: deps.outbox }),
    });
    if (paid !== undefined) return { kind: "changed", payment: paid, ...(options.webhookProcessed === undefined ? {} : { webhookProcessed: true as const }) };
  }

  const changed = await deps.db.transaction().execute(async (trx) => {
    switch (target) {
      case "PAID": {
        return transition(trx, deps.clock, {
          ...common,
          to: "PAID",
          event: "PAID",
          patch: paidPatch,
          effects: (t, paid) => insertCapture(t, deps.clock, paid, pgPayment.pgTransactionId),
          // From READY or waiting for a deposit nothing was captured or refunded before: the balance is
          // the capture just written, so the notification needs no read of the movements.
          balance: { captured: payment.amount, refunded: 0n, remaining: payment.amount, inFlight: 0 },
        });
      }
      case "WAITING_FOR_DEPOSIT":
        return transition(trx, deps.clock, {
          ...common,
          to: "WAITING_FOR_DEPOSIT",
          event: "DEPOSIT_WAITING",
          patch: { pg_transaction_id: pgPayment.pgTransactionId, ...(details ? { pg_details: details } : {}) },
          notification: pgPayment.virtualAccount ? { VirtualAccount: hostVirtualAccount(pgPayment.virtualAccount) } : {},
        });
      case "FAILED":
      case "EXPIRED":
        return transition(trx, deps.clock, {
          ...common,
          to: target,
          event: target,
          patch: { failure_code: pgPayment.failure?.code ?? null, failure_message: pgPayment.failure?.message ?? null },
          notification: { FailureCode: pgPayment.failure?.code ?? null, FailureMessage: pgPayment.failure?.message ?? null },
        });
      default:
        return undefined;
    }
  });
  if (changed !== undefined) return { kind: "changed", payment: changed };
  const current = (await findPayment(deps.db, payment.id)) ?? payment;
  if (target === "PAID" && isClosed(current.status)) {
    // Closed (superseded, say) between our read and the guarded update: the capture is late after all.
    return { kind: "unchanged", payment: await recordLateCapture(deps, current, pgPayment, source, trigger) };
  }
  return { kind: "unchanged", payment: current };
}

/** An attempt PGB ended without a capture: money arriving on it now is a late capture. */
function isClosed(status: PaymentStatus): boolean {
  return status === "SUPERSEDED" || status === "EXPIRED" || status === "FAILED";
}

/** Which PGB state the PG's answer leads to; undefined = nothing to do from here. */
function targetStatus(pgPayment: PgPayment): PaymentStatus | undefined {
  switch (pgPayment.status) {
    case "PENDING":
      return undefined;
    case "WAITING_FOR_DEPOSIT":
      return "WAITING_FOR_DEPOSIT";
    case "PAID":
      return "PAID";
    case "FAILED":
      return "FAILED";
    case "EXPIRED":
      return "EXPIRED";
    case "PARTIALLY_REFUNDED":
    case "REFUNDED":
      // Refunds are driven by PGB's own refund rows; a PG-side refund is reconciled there, not here.
      return undefined;
    default:
      return assertUnreachable(pgPayment.status);
  }
}

function mismatchOf(payment: Payment, pgPayment: PgPayment): string | undefined {
  if (pgPayment.paymentReference !== payment.id) return `the PG's reference ${pgPayment.paymentReference} is not payment ${payment.id}`;
  if (pgPayment.amount.currency !== payment.currency) return `currency ${pgPayment.amount.currency} ≠ ${payment.currency}`;
  if (pgPayment.amount.minor !== payment.amount) {
    return `amount ${formatMoney(pgPayment.amount)} ≠ ${formatMoney({ minor: payment.amount, currency: payment.currency })}`;
  }
  // A PG that names its transaction only once paid (Toss's paymentKey) starts from PGB's own id.
  const provisional = payment.pgTransactionId === provisionalPgTransactionId(payment.id);
  if (payment.pgTransactionId !== null && !provisional && pgPayment.pgTransactionId !== payment.pgTransactionId && payment.status !== "READY") {
    return `PG transaction ${pgPayment.pgTransactionId} is not ${payment.pgTransactionId}`;
  }
  return undefined;
}

function hostVirtualAccount(va: NonNullable<PgPayment["virtualAccount"]>): HostVirtualAccount {
  return { Bank: va.bank, AccountNumber: va.accountNumber, HolderName: va.holderName, DueDate: va.dueDate };
}
