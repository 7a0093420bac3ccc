/**
 * KakaoPay cancels (PGB's refunds). KakaoPay takes no idempotency key, so every cancel carries PGB's
 * refund id as `payload` and what PGB read as the cancellable balance as `cancel_available_amount`:
 * order lookup keeps the payload in its cancel history, so a refund is looked for there before it is
 * sent (a retry never cancels twice), and KakaoPay refuses a cancel whose balance moved under it (a
 * racing duplicate cancels once).
 */
import { ConnectorError, type PgRefund, type RefundInput, type RefundLookup, type RefundOutcome, type RefundRef } from "../../core/ports/connector.ts";
import type { KakaoPayApi } from "./client.ts";
import { ALREADY_DONE, CANCEL_AMOUNT_DISAGREES } from "./client.ts";
import { cancelAmounts, cancelToRefundOutcome, findRefundInOrder, refundPayload, wonToMoney } from "./transformers.ts";
import type { KakaoPayOrderResponse } from "./wire.ts";

export interface RefundDeps {
  api: KakaoPayApi;
  /** Order lookup for a tid, checked to be this payment's. */
  order(tid: string, paymentReference: string): Promise<KakaoPayOrderResponse>;
}

export async function refund(deps: RefundDeps, input: RefundInput): Promise<RefundOutcome> {
  if (input.amount.currency !== "KRW")
    throw new ConnectorError("fatal", `KakaoPay refunds in KRW; this refund is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
  const payload = refundPayload(input.idempotencyKey);
  const before = await deps.order(input.pgTransactionId, input.paymentReference);
  const earlier = findRefundInOrder(before, payload, input.amount);
  if (earlier.status !== "NOT_FOUND") return earlier;

  const available = wonToMoney(before.cancel_available_amount?.total ?? 0);
  if (input.amount.minor > available.minor) {
    throw new ConnectorError("declined", `KakaoPay can cancel ${available.minor} won of this payment, not ${input.amount.minor}`, "CANCEL_AMOUNT_EXCEEDED");
  }
  try {
    const cancel = await deps.api.cancel({ tid: input.pgTransactionId, ...cancelAmounts(input.amount, available), payload });
    return cancelToRefundOutcome(cancel, input.amount);
  } catch (error) {
    if (!(error instanceof ConnectorError) || (error.pgCode !== String(CANCEL_AMOUNT_DISAGREES) && error.pgCode !== String(ALREADY_DONE))) throw error;
    // KakaoPay refused because the balance moved since PGB read it: a racing send of this very
    // refund, or a cancel made at KakaoPay directly. The cancel history says which.
    const after = await deps.order(input.pgTransactionId, input.paymentReference);
    const found = findRefundInOrder(after, payload, input.amount);
    if (found.status !== "NOT_FOUND") return found;
    const left = after.cancel_available_amount?.total ?? 0;
    if (input.amount.minor > BigInt(left)) {
      throw new ConnectorError(
        "declined",
        `KakaoPay can cancel ${left} won of this payment, not ${input.amount.minor}`,
        error.pgCode,
        error.httpStatus,
        error.pgMessage,
      );
    }
    throw new ConnectorError(
      "retryable",
      `KakaoPay's cancellable balance changed under this cancel; nothing was cancelled: ${error.message}`,
      error.pgCode,
      error.httpStatus,
      error.pgMessage,
    );
  }
}

/** Order lookup is KakaoPay's whole history of the tid: no cancel with this payload means none happened. */
export async function lookupRefund(deps: RefundDeps, ref: RefundRef): Promise<RefundLookup> {
  const order = await deps.order(ref.pgTransactionId, ref.paymentReference);
  return findRefundInOrder(order, refundPayload(ref.idempotencyKey), ref.amount);
}

/** Every cancel KakaoPay records for the payment; one PGB sent names PGB's refund id in its payload. */
export async function listRefunds(deps: RefundDeps, ref: { pgTransactionId: string; paymentReference: string }): Promise<PgRefund[]> {
  const order = await deps.order(ref.pgTransactionId, ref.paymentReference);
  return (order.payment_action_details ?? [])
    .filter((action) => action.payment_action_type === "CANCEL")
    .map((action) => ({
      pgRefundId: action.aid,
      amount: wonToMoney(action.amount),
      // KakaoPay cancels synchronously: a cancel in the history has happened and does not fail later.
      status: "SUCCEEDED" as const,
      ...(action.payload ? { pgbRefundId: action.payload } : {}),
    }));
}
