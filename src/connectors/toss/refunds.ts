/**
 * Toss cancels (PGB's refunds). Each is written to the cancel ledger (store.ts) before it is sent,
 * so a retry, or the reconciler's lookup, sends the stored request again under the same
 * Idempotency-Key and Toss never cancels twice.
 */
import { assertUnreachable } from "../../core/errors.ts";
import type { Money } from "../../core/money.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { ConnectorError, type RefundInput, type RefundLookup, type RefundOutcome } from "../../core/ports/connector.ts";
import { isConnectorError, type TossApi } from "./client.ts";
import type { CancelLedger, CancelRow, CheckoutStore } from "./store.ts";
import { assertOurs, methodOf, moneyToWon, paymentKeyOf, readDetails, refundOutcomeOf, tossOrderIdFor } from "./transformers.ts";
import type { TossCancelRequest, TossPayment } from "./wire.ts";

const CANCEL_REASON_MAX = 200;
/** Toss remembers an Idempotency-Key for 15 days; a day's margin. */
const IDEMPOTENCY_WINDOW_MS = 14 * 24 * 3_600_000;

const enc = encodeURIComponent;

/** What the cancels need of the connector. */
export interface RefundDeps {
  tenant: string;
  api: TossApi;
  store: CheckoutStore;
  cancels: CancelLedger;
  clock: Clock;
}

export async function refund(deps: RefundDeps, input: RefundInput): Promise<RefundOutcome> {
  if (input.amount.currency !== "KRW") {
    throw new ConnectorError("fatal", `Toss refunds in KRW; this refund is in ${input.amount.currency}`, "UNSUPPORTED_CURRENCY");
  }
  // A retry (the core's, or the reconciler's without the refund account) resends the first request.
  const earlier = await deps.cancels.find(input.idempotencyKey);
  if (earlier !== undefined) return resume(deps, earlier, "refund");

  const row = await deps.store.find(input.paymentReference);
  const tossOrderId = row?.tossOrderId ?? tossOrderIdFor(input.paymentReference);
  let paymentKey = paymentKeyOf(input, row);
  let method = readDetails(input.details).method;
  if (paymentKey === undefined || method === undefined) {
    const current = await deps.api.get(paymentKey !== undefined ? `/v1/payments/${enc(paymentKey)}` : `/v1/payments/orders/${enc(tossOrderId)}`);
    assertOurs(current, tossOrderId);
    paymentKey = current.paymentKey;
    method = methodOf(current);
  }
  // Money deposited into a virtual account can only go back to a bank account the customer names.
  if (method === "VIRTUAL_ACCOUNT" && input.refundAccount === undefined) {
    throw new ConnectorError(
      "declined",
      "A paid virtual account is refunded into the customer's own bank account: send the refund account (bank, account number, holder name) with the cancel.",
      "REFUND_ACCOUNT_REQUIRED",
    );
  }
  const request: TossCancelRequest = {
    cancelReason: (input.reason.trim() || "Refund requested by the merchant").slice(0, CANCEL_REASON_MAX),
    cancelAmount: moneyToWon(input.amount),
  };
  if (input.refundAccount !== undefined) {
    request.refundReceiveAccount = {
      bank: input.refundAccount.bank.trim(),
      // Toss takes digits only; hosts often keep the hyphens banks print.
      accountNumber: input.refundAccount.accountNumber.replace(/[\s-]/g, ""),
      holderName: input.refundAccount.holderName.trim(),
    };
  }
  const sent = await deps.cancels.begin({
    idempotencyKey: input.idempotencyKey,
    tenant: deps.tenant,
    paymentReference: input.paymentReference,
    paymentKey,
    amount: input.amount,
    request,
  });
  return resume(deps, sent, "refund");
}

/**
 * For the reconciler: what became of the cancel sent under `idempotencyKey`. Never sent (no row:
 * rows are written before the call) → NOT_FOUND; outcome known → that; unknown → the stored
 * request is sent again under the same key, which Toss answers without cancelling twice.
 */
export async function lookupRefund(
  deps: RefundDeps,
  ref: {
    pgTransactionId: string;
    paymentReference: string;
    idempotencyKey: string;
    pgRefundId?: string;
    amount: Money;
  },
): Promise<RefundLookup> {
  const row = await deps.cancels.find(ref.idempotencyKey);
  if (row === undefined) return { status: "NOT_FOUND" };
  return resume(deps, row, "lookup");
}

async function resume(deps: RefundDeps, row: CancelRow, purpose: "refund" | "lookup"): Promise<RefundOutcome> {
  switch (row.status) {
    case "DONE":
      return { status: "SUCCEEDED", pgRefundId: row.transactionKey ?? row.idempotencyKey };
    case "FAILED": {
      const code = row.failureCode ?? "DECLINED";
      const message = row.failureMessage ?? "Toss refused this cancel.";
      // The first answer was a refusal; a refund call repeats it the way it came, a lookup as data.
      if (purpose === "refund") throw new ConnectorError("declined", message, code);
      return { status: "FAILED", ...(row.transactionKey ? { pgRefundId: row.transactionKey } : {}), code, message };
    }
    case "PENDING": {
      const payment = await deps.api.get(`/v1/payments/${enc(row.paymentKey)}`);
      const cancel = (payment.cancels ?? []).find((c) => c.transactionKey === row.transactionKey);
      const outcome = cancel === undefined ? undefined : refundOutcomeOf({ ...payment, cancels: [cancel] });
      if (outcome === undefined) return { status: "PENDING", pgRefundId: row.transactionKey ?? row.idempotencyKey };
      if (outcome.status !== "PENDING") await deps.cancels.settle(row.idempotencyKey, outcome);
      return outcome;
    }
    case "SENT":
      return send(deps, row, purpose);
    default:
      return assertUnreachable(row.status);
  }
}

async function send(deps: RefundDeps, row: CancelRow, purpose: "refund" | "lookup"): Promise<RefundOutcome> {
  if (row.request === null) throw new ConnectorError("fatal", "a cancel whose outcome is unknown lost its stored request", "CANCEL_REQUEST_LOST");
  // Past Toss's 15-day idempotency window a resend would be a second cancel: a person decides.
  if (deps.clock.nowMs() - row.createdAt.getTime() > IDEMPOTENCY_WINDOW_MS) {
    throw new ConnectorError(
      "fatal",
      "the cancel's outcome is unknown and Toss no longer remembers its Idempotency-Key; check Toss's console",
      "IDEMPOTENCY_WINDOW_PASSED",
    );
  }
  let payment: TossPayment;
  try {
    payment = await deps.api.post(`/v1/payments/${enc(row.paymentKey)}/cancel`, row.request, row.idempotencyKey);
  } catch (error) {
    if (isConnectorError(error) && error.errorClass === "declined") {
      const failed: RefundOutcome = { status: "FAILED", code: error.pgCode ?? "DECLINED", message: error.pgMessage ?? error.message };
      await deps.cancels.settle(row.idempotencyKey, failed);
      if (purpose === "lookup") return failed;
    }
    throw error;
  }
  assertOurs(payment, tossOrderIdFor(row.paymentReference));
  const outcome = refundOutcomeOf(payment);
  if (outcome === undefined) throw new ConnectorError("indeterminate", "Toss answered the cancel without any cancel entry", undefined, 200);
  await deps.cancels.settle(row.idempotencyKey, outcome);
  return outcome;
}
