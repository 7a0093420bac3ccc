/**
 * PartialCancel and FullCancel: refund part or all of an order's captured payment.
 *
 * Rules (README, "Host API"): CurrentTotalPrice must be PGB's remaining balance (optimistic concurrency);
 * Current − Refund = Modified; a refund never exceeds the balance, even under concurrent calls; a
 * retry of a cancel that already succeeded returns the original success instead of refunding twice.
 *
 * The refund row is written (reserving the amount) before the PG is called, either under the
 * payment's row lock or, in the common case, by a statement that succeeds only if the payment row is
 * still the version the cancel decided on (refund-reservation.ts); and only one refund per payment may
 * wait for the PG at a time, so concurrent cancels can never together refund more than was paid.
 */
import { createHash } from "node:crypto";
import { fail, succeed, type Result } from "../errors.ts";
import { formatMinor, type Money } from "../money.ts";
import type { CurrencyCode } from "../currency.ts";
import type { CoreDeps } from "../deps.ts";
import { newRefundId, type PaymentId, type RefundId } from "../ids.ts";
import { isCaptured } from "../payment-state.ts";
import type { Transaction } from "kysely";
import type { Database } from "../../storage/schema.ts";
import { resumeLostRefund } from "./resume-refund.ts";
import { sendRefund } from "./send-refund.ts";
import type { RefundAsRead } from "./refund-outcome.ts";
import { answerOf, outputOf, type CancelInput, type CancelOutput } from "./cancel-answer.ts";
import {
  appendEvent,
  balanceFrom,
  findPayment,
  lockCapturedPayment,
  paymentsOfOrder,
  type Balance,
  type Executor,
  type Payment,
} from "../../storage/payment-repository.ts";
import {
  EXTERNAL_REFUND_FINGERPRINT,
  captureOf,
  movementsOf,
  transitionRefund,
  type MovementRow,
  type RefundRow,
} from "../../storage/money-movement-repository.ts";
import { reserveRefund } from "../../storage/refund-statements.ts";
import { readAndReserveRefund } from "../../storage/refund-reservation.ts";

export async function cancelPayment(deps: CoreDeps, input: CancelInput): Promise<Result<CancelOutput>> {
  const currency = input.current.currency;
  if (input.refund !== undefined && input.modified !== undefined && input.current.minor - input.refund.minor !== input.modified.minor) {
    return fail("AMOUNT_MISMATCH", `CurrentTotalPrice ${fmt(input.current)} − RefundPrice ${fmt(input.refund)} ≠ ModifiedTotalPrice ${fmt(input.modified)}`);
  }
  const fingerprint = createHash("sha256")
    .update(JSON.stringify([input.current.minor.toString(), input.refund?.minor.toString() ?? "ALL", input.modified?.minor.toString() ?? "0", currency]))
    .digest("hex");

  // Most cancels read and reserve in one statement without a transaction (refund-reservation.ts), which
  // inserts the refund only if the cancel's rules hold on its snapshot and the payment row is unchanged.
  // When it changed, or the cancel names an attempt, the reservation runs under the payment's row lock.
  const reserved =
    (input.paymentId === undefined ? await reserveUnlocked(deps, input, fingerprint) : undefined) ?? (await reserveLocked(deps, input, fingerprint));

  if (!reserved.ok) return reserved;
  if (reserved.value.kind === "replay") return succeed(reserved.value.output);
  if (reserved.value.kind === "resume") return resumeLostRefund(deps, reserved.value.refundId, input);
  const { payment, refund, paid, asRead } = reserved.value;
  return executeRefund(deps, payment, refund, paid, input, asRead);
}

/**
 * The reservation read and written in one statement (refund-reservation.ts), without a transaction;
 * undefined when the payment is not found, or changed between the statement's snapshot and its write.
 */
async function reserveUnlocked(deps: CoreDeps, input: CancelInput, fingerprint: string): Promise<Result<Reservation> | undefined> {
  // When the statement reserves, the balance is the host's CurrentTotalPrice (a rule it checks).
  const amount = input.refund?.minor ?? input.current.minor;
  const { refund, event } = newRefund(deps, input, fingerprint, input.current.currency, amount, input.current.minor);
  const read = await readAndReserveRefund(
    deps.db,
    {
      tenant: input.tenant,
      orderId: input.orderId,
      nationCode: input.nationCode.toUpperCase(),
      currency: input.current.currency,
      expectPg: input.expectPg?.toUpperCase(),
      expectPayType: input.expectPayType?.toUpperCase(),
      current: input.current.minor,
      refund: input.refund?.minor,
      idempotencyKey: input.idempotencyKey ?? null,
    },
    refund,
    event,
  );
  if (read === undefined) return undefined;
  const { snapshot, reserved } = read;
  const decided = decide(snapshot.payment, snapshot.movements, input, fingerprint);
  if (reserved === undefined) return !decided.ok || decided.value.kind !== "reserve" ? (decided as Result<Reservation>) : undefined;
  if (!decided.ok || decided.value.kind !== "reserve" || decided.value.amount !== amount) {
    await releaseMisreserved(deps, snapshot.payment, reserved.refund);
    throw new Error(`refund ${refund.id} was reserved on order ${input.orderId} against the cancel's rules; released`);
  }
  return reservationOf(snapshot.payment, reserved, decided.value.balance, amount);
}

/** Fails a reservation the statement made where `decide` refuses: never sent, so no take-over sends it either. */
async function releaseMisreserved(deps: CoreDeps, payment: Payment, refund: RefundRow): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    if (
      (await transitionRefund(
        trx,
        refund.id,
        { status: "FAILED", failure_code: "INTERNAL", failure_message: "reserved against the cancel's rules" },
        "PENDING",
      )) === undefined
    )
      return;
    await appendEvent(trx, {
      paymentId: payment.id,
      from: payment.status,
      to: payment.status,
      event: "REFUND_FAILED",
      source: "HOST_API",
      detail: { refundId: refund.id, pgCode: "INTERNAL", message: "reserved against the cancel's rules" },
    });
  });
}

/** The reservation under the payment's row lock: movements read after the lock, so nothing can change them meanwhile. */
async function reserveLocked(deps: CoreDeps, input: CancelInput, fingerprint: string): Promise<Result<Reservation>> {
  return deps.db.transaction().execute(async (trx) => {
    const payment =
      input.paymentId === undefined
        ? await lockCapturedPayment(trx, input.tenant, input.orderId)
        : await lockAttemptWithMoney(trx, input.tenant, input.orderId, input.paymentId);
    if (payment === undefined) {
      const any = await paymentsOfOrder(trx, input.tenant, input.orderId);
      return any.length === 0
        ? fail("ORDER_NOT_FOUND", `no payment for order ${input.orderId}`)
        : fail("PAYMENT_NOT_PAID", `order ${input.orderId} is not paid (its payment is ${any[any.length - 1]!.status})`);
    }
    const decided = decide(payment, await movementsOf(trx, [payment.id]), input, fingerprint);
    if (!decided.ok || decided.value.kind !== "reserve") return decided as Result<Reservation>;
    const reservation = await reserve(deps, trx, payment, decided.value, input, fingerprint);
    if (reservation === undefined) throw new Error(`payment ${payment.id} vanished while locked`);
    return reservation;
  });
}

type Decision = Reservation | { kind: "reserve"; amount: bigint; balance: Balance };

/** What a cancel does given the payment and its movements: refuse, replay an earlier cancel, or reserve `amount`. */
function decide(payment: Payment, movements: MovementRow[], input: CancelInput, fingerprint: string): Result<Decision> {
  const currency = input.current.currency;
  if (payment.nationCode !== input.nationCode.toUpperCase() || payment.currency !== currency) {
    return fail("NATION_MISMATCH", `order ${input.orderId} was paid in ${payment.nationCode} (${payment.currency})`);
  }
  if (input.expectPg !== undefined && input.expectPg.toUpperCase() !== payment.pg) {
    return fail("PG_TYPE_MISMATCH", `order ${input.orderId} was paid through ${payment.pg}, not ${input.expectPg}`);
  }
  if (input.expectPayType !== undefined && input.expectPayType.toUpperCase() !== payment.payType) {
    return fail("PAY_TYPE_MISMATCH", `order ${input.orderId} was paid by ${payment.payType}, not ${input.expectPayType}`);
  }
  const refunds = movements.filter((m) => m.kind === "REFUND");
  if (input.idempotencyKey !== undefined) {
    const earlier = refunds.find((r) => r.idempotency_key === input.idempotencyKey);
    if (earlier !== undefined) {
      if (earlier.request_fingerprint !== fingerprint) return fail("IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with a different request");
      return replayOf(payment, earlier);
    }
  }
  // A retry without a key: the same amounts as a refund that already went through.
  const sameAmounts = refunds.find(
    (r) =>
      r.status !== "FAILED" &&
      // Only the host's own refunds: one made in the PG's dashboard is not a cancel to replay.
      r.request_fingerprint !== EXTERNAL_REFUND_FINGERPRINT &&
      BigInt(r.balance_before ?? -1) === input.current.minor &&
      (input.refund === undefined ? BigInt(r.balance_after ?? -1) === 0n : BigInt(r.amount) === input.refund.minor),
  );
  if (sameAmounts !== undefined) return replayOf(payment, sameAmounts);

  const balance = balanceFrom(movements);
  if (balance.inFlight > 0) return fail("CANCEL_IN_PROGRESS", `a refund on order ${input.orderId} is still waiting for the PG`);
  if (payment.status === "CANCELLED" || balance.remaining === 0n) return fail("PAYMENT_ALREADY_CANCELLED", `order ${input.orderId} is fully cancelled`);
  const amount = input.refund?.minor ?? balance.remaining;
  if (amount > balance.remaining) {
    return fail("REFUND_EXCEEDS_BALANCE", `RefundPrice ${formatMinor(amount, currency)} exceeds the remaining ${formatMinor(balance.remaining, currency)}`);
  }
  if (input.current.minor !== balance.remaining) {
    return fail("STALE_CURRENT_PRICE", `CurrentTotalPrice ${fmt(input.current)} is not the remaining balance ${formatMinor(balance.remaining, currency)}`, {
      remaining: formatMinor(balance.remaining, currency),
    });
  }
  return succeed({ kind: "reserve", amount, balance });
}

/** Writes the refund row and its REFUND_REQUESTED history row, the payment row locked by the caller. */
async function reserve(
  deps: CoreDeps,
  trx: Executor,
  payment: Payment,
  decided: { amount: bigint; balance: Balance },
  input: CancelInput,
  fingerprint: string,
): Promise<Result<Reservation> | undefined> {
  const { amount, balance } = decided;
  const { refund, event } = newRefund(deps, input, fingerprint, payment.currency, amount, balance.remaining);
  const reserved = await reserveRefund(trx, null, { ...refund, paymentId: payment.id }, { ...event, status: payment.status });
  return reserved && reservationOf(payment, reserved, balance, amount);
}

/** The refund a cancel reserves (`amount` of `balanceBefore`) and its REFUND_REQUESTED history row's source and detail. */
function newRefund(deps: CoreDeps, input: CancelInput, fingerprint: string, currency: CurrencyCode, amount: bigint, balanceBefore: bigint) {
  const id = newRefundId(deps.clock);
  return {
    refund: {
      id,
      amount,
      balanceBefore,
      balanceAfter: balanceBefore - amount,
      idempotencyKey: input.idempotencyKey ?? null,
      fingerprint,
      leaseToken: deps.leaseToken ?? null,
    },
    event: {
      source: input.source ?? "HOST_API",
      detail: { refundId: id, amount: formatMinor(amount, currency), balanceBefore: formatMinor(balanceBefore, currency) },
    },
  };
}

/**
 * A new reservation, with the payment as it left it and the balance once this refund succeeds: what
 * the refund's success may be written on in one statement (refund-outcome.ts), if nothing moves meanwhile.
 */
function reservationOf(payment: Payment, reserved: { refund: RefundRow; paymentVersion: string }, balance: Balance, amount: bigint): Result<Reservation> {
  const asRead = { version: reserved.paymentVersion, balance: { ...balance, refunded: balance.refunded + amount, remaining: balance.remaining - amount } };
  return succeed({ kind: "new", payment, refund: reserved.refund, paid: balance.captured, asRead });
}

/** The named attempt of this order, locked, if money was captured on it (the paid attempt, or a late capture). */
async function lockAttemptWithMoney(trx: Transaction<Database>, tenant: string, orderId: number, paymentId: PaymentId): Promise<Payment | undefined> {
  const payment = await findPayment(trx, paymentId, { forUpdate: true });
  if (payment === undefined || payment.tenant !== tenant || payment.orderId !== orderId) return undefined;
  if (isCaptured(payment.status)) return payment;
  return (await captureOf(trx, payment.id)) === undefined ? undefined : payment;
}

type Reservation =
  | { kind: "replay"; output: CancelOutput }
  /** The same cancel was reserved earlier and never answered by the PG: continue that refund. */
  | { kind: "resume"; refundId: RefundId }
  | { kind: "new"; payment: Payment; refund: RefundRow; paid: bigint; asRead: RefundAsRead };

function replayOf(payment: Payment, earlier: RefundRow): Result<Reservation> {
  switch (earlier.status) {
    case "SUCCEEDED":
    case "PENDING":
      if (earlier.status === "PENDING" && earlier.pg_reference === null) return succeed({ kind: "resume", refundId: earlier.id });
      return succeed({ kind: "replay", output: outputOf(payment, earlier, earlier.status, true) });
    case "UNKNOWN":
      return fail("CANCEL_IN_PROGRESS", "this cancel is still waiting for the PG's answer");
    case "FAILED":
      return fail("PG_DECLINED", `this cancel failed earlier: ${earlier.failure_code ?? ""} ${earlier.failure_message ?? ""}`.trim());
  }
}

/** Sends the reserved refund (send-refund.ts) and answers the host with its outcome. */
export async function executeRefund(
  deps: CoreDeps,
  payment: Payment,
  refund: RefundRow,
  paid: bigint,
  input: Pick<CancelInput, "reason" | "refundAccount" | "source">,
  asRead?: RefundAsRead,
): Promise<Result<CancelOutput>> {
  const sent = await sendRefund(deps, payment, refund, {
    reason: input.reason,
    refundAccount: input.refundAccount,
    source: input.source ?? "HOST_API",
    answeredBy: "caller",
    asRead,
  });
  return answerOf(sent, payment, refund, paid);
}

function fmt(money: Money): string {
  return formatMinor(money.minor, money.currency);
}
