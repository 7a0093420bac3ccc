import { randomFillSync } from "node:crypto";
import type { Clock } from "./ports/clock.ts";

/**
 * Prefixed, sortable-enough random ids ("pay_…", "rf_…"): the prefix says what an id names when it
 * shows up in a log or a PG's dashboard; 16 random bytes make collisions a non-issue. Time-ordered
 * so that index inserts stay local.
 */
export function newId(prefix: "pay" | "mm" | "msg" | "tp" | "tprf" | "evt", clock: Clock): string {
  const time = clock.nowMs().toString(36).padStart(9, "0");
  return `${prefix}_${time}${randomHex(10)}`;
}

// Random bytes are drawn 4 KiB at a time and each used once, as Node's randomUUID does: one
// randomBytes call per id cost more than the rest of making it (a PayStart makes one).
const randomPool = Buffer.allocUnsafe(4096);
let randomPoolAt = randomPool.length;

function randomHex(bytes: number): string {
  if (randomPoolAt + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  const hex = randomPool.toString("hex", randomPoolAt, randomPoolAt + bytes);
  randomPoolAt += bytes;
  return hex;
}

declare const brandTag: unique symbol;
/** A string that names one kind of thing: a RefundId passed where a PaymentId is expected does not compile. */
export type Branded<Brand extends string> = string & { readonly [brandTag]: Brand };

/** PGB's payment (attempt) id, `payments.id`. */
export type PaymentId = Branded<"PaymentId">;
/** PGB's refund id, the `money_movements.id` of a refund row (also its idempotency key at the PG). */
export type RefundId = Branded<"RefundId">;
/** The PG's id of a payment's transaction (`payments.pg_transaction_id`). */
export type PgTransactionId = Branded<"PgTransactionId">;

/**
 * The one cast: where an id enters PGB (a database row, the host's request, a PG's answer) it is
 * branded here, and travels typed from then on.
 */
export function brand<Id extends PaymentId | RefundId | PgTransactionId>(value: string): Id {
  return value as Id;
}

/**
 * A PG that names its transaction only once the customer acts (Toss's paymentKey) is known by PGB's
 * own payment id until then: the one place a payment id stands for a PG transaction id.
 */
export function provisionalPgTransactionId(paymentId: PaymentId): PgTransactionId {
  return brand<PgTransactionId>(paymentId);
}

export function newPaymentId(clock: Clock): PaymentId {
  return brand<PaymentId>(newId("pay", clock));
}

export function newRefundId(clock: Clock): RefundId {
  return brand<RefundId>(newId("mm", clock));
}
