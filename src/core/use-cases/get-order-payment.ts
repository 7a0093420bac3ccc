/**
 * GET /PGB/Payment: the order's payment as PGB knows it — the attempt that matters (the captured one,
 * else the latest), amounts, every attempt, refunds and the full history. For a host whose
 * notification is late.
 */
import type { CoreDeps } from "../deps.ts";
import { fail, succeed, type Result } from "../errors.ts";
import { formatMinor } from "../money.ts";
import { isCaptured } from "../payment-state.ts";
import { balanceFrom, eventsOf, paymentsOfOrder } from "../../storage/payment-repository.ts";
import { movementsOf } from "../../storage/money-movement-repository.ts";

export async function getOrderPayment(deps: CoreDeps, tenant: string, orderId: number): Promise<Result<Record<string, unknown>>> {
  const attempts = await paymentsOfOrder(deps.db, tenant, orderId);
  if (attempts.length === 0) return fail("ORDER_NOT_FOUND", `no payment for order ${orderId}`);
  const current = attempts.find((p) => isCaptured(p.status)) ?? attempts[attempts.length - 1]!;
  const ids = attempts.map((p) => p.id);
  const [movements, events] = await Promise.all([movementsOf(deps.db, ids), eventsOf(deps.db, ids)]);
  // The balance from the same read as the refunds listed below, so the two always agree.
  const balance = balanceFrom(movements.filter((m) => m.payment_id === current.id));
  const money = (minor: bigint | string | number) => formatMinor(BigInt(minor), current.currency);
  const va = (current.pgDetails as { virtualAccount?: { bank: string; accountNumber: string; holderName: string; dueDate: string } } | null)?.virtualAccount;
  return succeed({
    DBType: tenant,
    OrderId: orderId,
    PaymentId: current.id,
    Status: current.status,
    PGType: current.pg,
    PayType: current.payType,
    NationCode: current.nationCode,
    Currency: current.currency,
    TotalPrice: money(current.amount),
    PaidPrice: money(balance.captured),
    CancelledPrice: money(balance.refunded),
    RemainingPrice: money(balance.remaining),
    PGTransactionId: current.pgTransactionId,
    CheckoutUrl: current.checkoutUrl,
    VirtualAccount: va ? { Bank: va.bank, AccountNumber: va.accountNumber, HolderName: va.holderName, DueDate: va.dueDate } : null,
    FailureCode: current.failureCode,
    FailureMessage: current.failureMessage,
    PaidAt: current.paidAt?.toISOString() ?? null,
    // Each attempt's own money: a late capture on a closed attempt (and its refund) shows here, never
    // in the order's PaidPrice or balance above.
    Attempts: attempts.map((p) => {
      const own = balanceFrom(movements.filter((m) => m.payment_id === p.id));
      return {
        PaymentId: p.id,
        Status: p.status,
        PGType: p.pg,
        PayType: p.payType,
        TotalPrice: formatMinor(p.amount, p.currency),
        CapturedPrice: formatMinor(own.captured, p.currency),
        RefundedPrice: formatMinor(own.refunded, p.currency),
        PGTransactionId: p.pgTransactionId,
        CreatedAt: p.createdAt.toISOString(),
      };
    }),
    Refunds: movements
      .filter((m) => m.kind === "REFUND")
      .map((m) => ({
        RefundId: m.id,
        PaymentId: m.payment_id,
        Status: m.status,
        RefundPrice: money(m.amount),
        BalanceBefore: m.balance_before === null ? null : money(m.balance_before),
        BalanceAfter: m.balance_after === null ? null : money(m.balance_after),
        FailureCode: m.failure_code,
        CreatedAt: new Date(m.created_at).toISOString(),
      })),
    History: events.map((e) => ({
      At: new Date(e.created_at).toISOString(),
      PaymentId: e.payment_id,
      From: e.from_status,
      To: e.to_status,
      Event: e.event,
      Source: e.source,
    })),
  });
}
