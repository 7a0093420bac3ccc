/**
 * All SQL of money movements: the capture of a payment, each refund (PGB's, a late capture's, one
 * made in the PG's dashboard) and their outcomes. A refund's row exists before its PG call, so its
 * amount is reserved against the balance; the balance itself is derived from these rows
 * (payment-repository.ts, balanceFrom). A change to a captured payment's balance (other than releasing
 * its one open refund) must come with a write of its payment row: a cancel's unlocked reservation and
 * a refund's success rely on the row's version to notice it (refund-statements.ts).
 */
import { sql, type Transaction } from "kysely";
import { brand, newId, type PaymentId, type RefundId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import { refundGuardOf, type RefundStatus } from "../core/refund-state.ts";
import type { Executor, Payment } from "./payment-repository.ts";
import type { Database, MoneyMovementRow } from "./schema.ts";

/** A refund's row: its ids typed (core/ids.ts) from the moment the row is read. */
export type RefundRow = MoneyMovementRow & { kind: "REFUND"; id: RefundId; payment_id: PaymentId };
/** A money movement as this repository reads it: a refund, or a capture. */
export type MovementRow = RefundRow | (MoneyMovementRow & { kind: "CAPTURE"; payment_id: PaymentId });

/** Where a movement's ids enter PGB: a row read (or written) by this repository, its kind telling which. */
function movementRow(row: MoneyMovementRow): MovementRow {
  return row as MovementRow;
}

export function refundRow(row: MoneyMovementRow): RefundRow {
  if (row.kind !== "REFUND") throw new Error(`money movement ${row.id} is a ${row.kind}, not a refund`);
  return row as RefundRow;
}

/** A refund to record as PENDING before the PG is called: its id is the PG call's idempotency key. */
export interface NewRefund {
  id: RefundId;
  paymentId: PaymentId;
  amount: bigint;
  balanceBefore: bigint;
  balanceAfter: bigint;
  idempotencyKey: string | null;
  fingerprint: string;
  leaseToken: string | null;
}

export async function insertRefund(trx: Transaction<Database>, r: Omit<NewRefund, "leaseToken"> & { leaseToken?: string | null }): Promise<RefundRow> {
  return refundRow(
    await trx
      .insertInto("money_movements")
      .values({
        id: r.id,
        payment_id: r.paymentId,
        kind: "REFUND",
        amount: r.amount.toString(),
        status: "PENDING",
        balance_before: r.balanceBefore.toString(),
        balance_after: r.balanceAfter.toString(),
        idempotency_key: r.idempotencyKey,
        request_fingerprint: r.fingerprint,
        lease_token: r.leaseToken ?? null,
        updated_at: sql<Date>`now()`,
      })
      .returningAll()
      .executeTakeFirstOrThrow(),
  );
}

export async function insertCapture(trx: Transaction<Database>, clock: Clock, payment: Payment, pgReference: string | null): Promise<void> {
  await trx
    .insertInto("money_movements")
    .values({
      id: newId("mm", clock),
      payment_id: payment.id,
      kind: "CAPTURE",
      amount: payment.amount.toString(),
      status: "SUCCEEDED",
      pg_reference: pgReference,
      updated_at: sql<Date>`now()`,
    })
    .execute();
}

/**
 * Records money the PG captured on an attempt that is not the order's paid one. Answers false when
 * it was recorded before (webhook, browser return and reconciler may all learn it).
 */
export async function insertLateCapture(trx: Transaction<Database>, clock: Clock, payment: Payment, pgReference: string): Promise<boolean> {
  if ((await captureOf(trx, payment.id)) !== undefined) return false;
  await insertCapture(trx, clock, payment, pgReference);
  return true;
}

/** A late capture's automatic refund: its row id, derived from the attempt, is its idempotency key. */
export function lateRefundId(paymentId: PaymentId): RefundId {
  return brand<RefundId>(`mm_late_${paymentId}`);
}

/** Marks a refund row PGB did not send (a dashboard refund): never replayed as a host's cancel. */
export const EXTERNAL_REFUND_FINGERPRINT = "external";

/**
 * A refund made at the PG outside PGB (its dashboard). Its idempotency key is the PG's refund id, so
 * the unique index refuses to count one twice however many events report it.
 */
export async function insertExternalRefund(
  trx: Transaction<Database>,
  clock: Clock,
  r: { paymentId: PaymentId; amount: bigint; balanceBefore: bigint; pgRefundId: string },
): Promise<RefundRow | undefined> {
  const after = r.balanceBefore - r.amount;
  const row = await trx
    .insertInto("money_movements")
    .values({
      id: newId("mm", clock),
      payment_id: r.paymentId,
      kind: "REFUND",
      amount: r.amount.toString(),
      status: "SUCCEEDED",
      balance_before: r.balanceBefore.toString(),
      // Below zero only if PGB had reserved part of the balance for a refund of its own meanwhile.
      balance_after: after >= 0n ? after.toString() : null,
      idempotency_key: `pg:${r.pgRefundId}`,
      request_fingerprint: EXTERNAL_REFUND_FINGERPRINT,
      pg_reference: r.pgRefundId,
      updated_at: sql<Date>`now()`,
    })
    .onConflict((oc) => oc.columns(["payment_id", "idempotency_key"]).where("idempotency_key", "is not", null).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && refundRow(row);
}

/** One money movement by its id: a late capture's PG transaction (for its refund), a refund the reconciler checks. */
export async function findMovement(db: Executor, id: RefundId): Promise<MovementRow | undefined> {
  const row = await db.selectFrom("money_movements").selectAll().where("id", "=", id).executeTakeFirst();
  return row && movementRow(row);
}

/** The capture on a payment, if money was captured on it. */
export async function captureOf(db: Executor, paymentId: string): Promise<MoneyMovementRow | undefined> {
  return db.selectFrom("money_movements").selectAll().where("payment_id", "=", paymentId).where("kind", "=", "CAPTURE").executeTakeFirst();
}

export async function findRefundByPgReference(db: Executor, paymentId: PaymentId, pgReference: string): Promise<RefundRow | undefined> {
  const row = await db
    .selectFrom("money_movements")
    .selectAll()
    .where("payment_id", "=", paymentId)
    .where("kind", "=", "REFUND")
    .where("pg_reference", "=", pgReference)
    .executeTakeFirst();
  return row && refundRow(row);
}

/**
 * The one place a refund changes state, guarded by the refund state table (core/refund-state.ts):
 * the row moves only from a state the table allows into `to` (narrowed to `expected` when given).
 * Returns the row after the move, or undefined when the guard matched nothing (settled by someone
 * else meanwhile, or not a refund).
 */
export async function transitionRefund(
  db: Executor,
  id: RefundId,
  change: { status: RefundStatus; pg_reference?: string | null; failure_code?: string | null; failure_message?: string | null },
  expected?: RefundStatus | readonly RefundStatus[],
): Promise<RefundRow | undefined> {
  const row = await db
    .updateTable("money_movements")
    .set({ ...change, updated_at: sql<Date>`now()` })
    .where("id", "=", id)
    .where("kind", "=", "REFUND")
    .where("status", "in", refundGuardOf(change.status, expected))
    .returningAll()
    .executeTakeFirst();
  return row && refundRow(row);
}

export async function refundsOf(db: Executor, paymentId: PaymentId): Promise<RefundRow[]> {
  return (
    await db
      .selectFrom("money_movements")
      .selectAll()
      .where("payment_id", "=", paymentId)
      .where("kind", "=", "REFUND")
      .orderBy("created_at")
      .orderBy("id")
      .execute()
  ).map(refundRow);
}

export async function movementsOf(db: Executor, paymentIds: PaymentId[]): Promise<MovementRow[]> {
  if (paymentIds.length === 0) return [];
  return (await db.selectFrom("money_movements").selectAll().where("payment_id", "in", paymentIds).orderBy("created_at").orderBy("id").execute()).map(
    movementRow,
  );
}

/** Refunds of these payments not settled yet (PENDING or UNKNOWN). */
export async function unsettledRefundsOf(db: Executor, paymentIds: string[]): Promise<Array<Pick<RefundRow, "id" | "status" | "updated_at">>> {
  const rows = await db
    .selectFrom("money_movements")
    .select(["id", "status", "updated_at"])
    .where("payment_id", "in", paymentIds)
    .where("kind", "=", "REFUND")
    .where("status", "in", ["PENDING", "UNKNOWN"])
    .execute();
  return rows.map((r) => ({ ...r, id: brand<RefundId>(r.id) }));
}
