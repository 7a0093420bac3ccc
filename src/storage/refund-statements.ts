/**
 * The statements of a host's cancel, each folding what would otherwise be several round trips: the
 * order's payment read with its money movements, a refund reserved with its history row, a refund's
 * success recorded with its payment locked, or with the payment's move, history row and outbox row
 * when the payment is still as the reservation left it.
 *
 * A reservation writes the payment row (a new row version, the data unchanged) in the statement that
 * inserts the refund. Every other change to a captured payment's balance does too (a capture, an
 * external refund, a reversed refund: they move the payment's state through `transition`), except
 * releasing the one refund that may be open, which only raises the balance. So the row's version
 * (xmin) tells whether movements read in a snapshot are still current: a cancel that read them without
 * a lock reserves only if the version is still the one it read (concurrent cancels serialise on the
 * row; the loser sees the new version and inserts nothing), a refund's success uses its snapshot's
 * balance only if no one wrote the row before its lock, and the cancel's own success moves the
 * payment in one statement only if the row is still the version its reservation wrote.
 */
import { sql, type RawBuilder } from "kysely";
import { CAPTURED_STATUSES, guardOf, notificationFor, type EventSource, type PaymentStatus } from "../core/payment-state.ts";
import { newId, type PaymentId, type RefundId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { NotificationHandOff } from "../core/deps.ts";
import {
  BORN_CLAIMED,
  handedOver,
  queuedNotification,
  queuedNotificationParameters,
  queuedNotificationShape,
  type BornClaimedColumns,
} from "./outbox-statement.ts";
import { stateNotification, type FieldsOnEntering, type HostNotification, type StateNotificationFields } from "../core/host-notification.ts";
import { compilableSql, Precompiled } from "./precompiled.ts";
import { balanceFrom, paymentColumnsOf, toPayment, type Balance, type Executor, type Payment } from "./payment-repository.ts";
import type { MovementRow, NewRefund, RefundRow } from "./money-movement-repository.ts";
import type { MoneyMovementRow, PaymentRow } from "./schema.ts";

/** The order's captured payment as one snapshot saw it: the row, its version and its movements. */
export interface PaymentSnapshot {
  payment: Payment;
  /** The payment row's xmin: changes whenever the row is written. */
  version: string;
  movements: MovementRow[];
}

/**
 * The order's captured payment and its movements (oldest first) in one statement, without a lock:
 * one snapshot, so the balance and the refunds agree with each other.
 */
export async function readCapturedPayment(db: Executor, tenant: string, orderId: number): Promise<PaymentSnapshot | undefined> {
  const { rows } = await sql<PaymentRow & { row_version: string; movements: JsonMovement[] }>`
    SELECT p.*, p.xmin::text AS row_version, ${movementsOf(sql`p.id`)} AS movements
    FROM payments p
    WHERE p.tenant = ${tenant} AND p.order_id = ${orderId} AND p.status IN (${sql.join([...CAPTURED_STATUSES])})`.execute(db);
  const row = rows[0];
  if (row === undefined) return undefined;
  const { row_version, movements, ...payment } = row;
  return { payment: toPayment(payment), version: row_version, movements: movements.map(movementOf) };
}

/** A payment's movements (oldest first) as one json array, bigints as text so they stay exact. */
export function movementsOf(paymentId: RawBuilder<unknown>): RawBuilder<JsonMovement[]> {
  return sql`(SELECT coalesce(json_agg(${movementJson("m")} ORDER BY m.created_at, m.id), '[]'::json)
       FROM money_movements m WHERE m.payment_id = ${paymentId})`;
}

/** The money_movements row named `table` as one json object, bigints as text so they stay exact. */
export function movementJson(table: string): RawBuilder<JsonMovement> {
  const c = (column: string) => sql.ref(`${table}.${column}`);
  return sql`json_build_object(
          'id', ${c("id")}, 'payment_id', ${c("payment_id")}, 'kind', ${c("kind")}, 'amount', ${c("amount")}::text, 'status', ${c("status")},
          'balance_before', ${c("balance_before")}::text, 'balance_after', ${c("balance_after")}::text,
          'idempotency_key', ${c("idempotency_key")}, 'request_fingerprint', ${c("request_fingerprint")},
          'pg_reference', ${c("pg_reference")}, 'failure_code', ${c("failure_code")}, 'failure_message', ${c("failure_message")},
          'lease_token', ${c("lease_token")}, 'created_at', ${c("created_at")}, 'updated_at', ${c("updated_at")})`;
}

/** A movement as json_build_object gives it: bigints as text (exact), timestamps as text. */
export type JsonMovement = Omit<MoneyMovementRow, "created_at" | "updated_at"> & { created_at: string; updated_at: string };

export function movementOf(m: JsonMovement): MovementRow {
  return { ...m, created_at: new Date(m.created_at), updated_at: new Date(m.updated_at) } as MovementRow;
}

/** The PENDING refund row's insert, for the payment row the statement's CTE `touched` wrote. */
export function pendingRefundFromTouched(r: Omit<NewRefund, "paymentId">): RawBuilder<unknown> {
  return sql`INSERT INTO money_movements
        (id, payment_id, kind, amount, status, balance_before, balance_after, idempotency_key, request_fingerprint, lease_token, updated_at)
      SELECT ${r.id}, touched.id, 'REFUND', ${r.amount.toString()}::bigint, 'PENDING', ${r.balanceBefore.toString()}::bigint,
        ${r.balanceAfter.toString()}::bigint, ${r.idempotencyKey}, ${r.fingerprint}, ${r.leaseToken}, now()
      FROM touched`;
}

/** pendingRefundFromTouched's parameters, in the order its text takes them (precompiled.ts checks this). */
export function pendingRefundFromTouchedParameters(r: Omit<NewRefund, "paymentId">): unknown[] {
  return [r.id, r.amount.toString(), r.balanceBefore.toString(), r.balanceAfter.toString(), r.idempotencyKey, r.fingerprint, r.leaseToken];
}

/**
 * Reserves a refund (a PENDING row) and appends its REFUND_REQUESTED history row, in one statement
 * that also writes the payment row (see the top of this file). With `version`, only if the payment
 * row is still that version: undefined otherwise (someone changed the payment since it was read).
 * Returns the refund and the payment row's new version (what the refund's success may be decided on).
 */
export async function reserveRefund(
  db: Executor,
  version: string | null,
  r: NewRefund,
  event: { status: PaymentStatus; source: EventSource; detail: Record<string, unknown> },
): Promise<{ refund: RefundRow; paymentVersion: string } | undefined> {
  const { rows } = await sql<MoneyMovementRow & { payment_version: string }>`
    WITH touched AS (
      UPDATE payments SET status = payments.status
      WHERE id = ${r.paymentId} ${version === null ? sql`` : sql`AND xmin = ${version}::xid`}
      RETURNING id, xmin::text AS version
    ), refund AS (
      ${pendingRefundFromTouched(r)}
      RETURNING *
    ), history AS (
      INSERT INTO payment_events (payment_id, from_status, to_status, event, source, detail)
      SELECT refund.payment_id, ${event.status}, ${event.status}, 'REFUND_REQUESTED', ${event.source}, ${JSON.stringify(event.detail)}::jsonb
      FROM refund
    )
    SELECT refund.*, touched.version AS payment_version FROM refund JOIN touched ON touched.id = refund.payment_id`.execute(db);
  const row = rows[0];
  if (row === undefined) return undefined;
  const { payment_version, ...refund } = row;
  return { refund: refund as RefundRow, paymentVersion: payment_version };
}

/**
 * Marks an open refund SUCCEEDED and then locks its payment (in that order, as every refund outcome
 * does), in one statement. Returns the payment as locked, or undefined when the refund was not open
 * (settled by someone else): the payment is then not locked.
 *
 * The balance comes from the statement's snapshot, which is current only if nobody wrote the payment
 * row between the snapshot and the lock (the row version read without the lock equals the locked
 * one, which PostgreSQL re-reads after waiting for a writer); otherwise `balance` is undefined and the
 * caller reads it under the lock.
 */
export async function succeedRefundLockingPayment(
  db: Executor,
  refundId: RefundId,
  pgRefundId: string,
  openStatuses: readonly string[],
): Promise<{ payment: Payment; balance: Balance | undefined } | undefined> {
  const { rows } = await sql<PaymentRow & { snapshot_version: string; locked_version: string; movements: BalanceMovement[] }>`
    WITH moved AS (
      UPDATE money_movements SET status = 'SUCCEEDED', pg_reference = ${pgRefundId}, updated_at = now()
      WHERE id = ${refundId} AND kind = 'REFUND' AND status IN (${sql.join([...openStatuses])})
      RETURNING payment_id
    )
    SELECT p.*, p.xmin::text AS locked_version,
      (SELECT s.xmin::text FROM payments s WHERE s.id = p.id) AS snapshot_version,
      (SELECT coalesce(json_agg(json_build_object('id', m.id, 'kind', m.kind, 'status', m.status, 'amount', m.amount::text)), '[]'::json)
       FROM money_movements m WHERE m.payment_id = p.id) AS movements
    FROM moved JOIN payments p ON p.id = moved.payment_id
    FOR UPDATE OF p`.execute(db);
  const row = rows[0];
  if (row === undefined) return undefined;
  const { snapshot_version, locked_version, movements, ...payment } = row;
  // The snapshot does not see this statement's own update of the refund.
  const settled = movements.map((m) => (m.id === refundId ? { ...m, status: "SUCCEEDED" as const } : m));
  return { payment: toPayment(payment), balance: snapshot_version === locked_version ? balanceFrom(settled) : undefined };
}

type BalanceMovement = Pick<MoneyMovementRow, "id" | "kind" | "status" | "amount">;

/** The history event of a payment's move after a refund of PGB's succeeded. */
export const REFUNDED_EVENT = "REFUNDED";

/**
 * A refund's success and the payment's move it brings, decided on the payment as the caller read it
 * (`version`, `balance` after this refund), in one statement: the refund marked SUCCEEDED, the payment
 * moved to `to`, its history row and its outbox row. The refund row is locked first and then the
 * payment (the order every refund outcome uses); each lock re-checks its row, so once both are held
 * the two updates cannot miss and everything is written, or nothing is: undefined when the refund is
 * no longer open or the payment row is no longer `version` (the caller then takes the locked path).
 */
export async function succeedRefundAsRead(
  db: Executor,
  clock: Clock,
  read: Payment,
  version: string,
  change: {
    refundId: RefundId;
    pgRefundId: string;
    openStatuses: readonly string[];
    to: "PARTIALLY_CANCELLED" | "CANCELLED";
    balance: Balance;
    source: EventSource;
    detail: Record<string, unknown>;
    notification: FieldsOnEntering["PARTIALLY_CANCELLED" | "CANCELLED"];
    /** Write the notification claimed for this dispatcher and hand it over (outbox-statement.ts). */
    handOff?: NotificationHandOff;
  },
): Promise<Payment | undefined> {
  const [from] = guardOf(change.to, REFUNDED_EVENT, read.status);
  const after: Payment = { ...read, status: change.to };
  const type = notificationFor(from!, change.to);
  const notification =
    type === undefined
      ? undefined
      : stateNotification(type, after, change.balance, change.notification as StateNotificationFields[typeof type], newId("msg", clock), clock.now());
  const { rows } = await db.executeQuery(
    refundSuccessAsReadStatements.compiled(db, {
      refundId: change.refundId,
      paymentId: read.id,
      openStatuses: change.openStatuses,
      version,
      from: from!,
      to: change.to,
      pgRefundId: change.pgRefundId,
      source: change.source,
      detail: JSON.stringify(change.detail),
      ...(notification === undefined ? {} : { outbox: { notification, handOff: change.handOff } }),
    }),
  );
  const row = rows[0];
  return row === undefined ? undefined : toPayment(handedOver(row, notification, change.handOff));
}

/** Everything succeedRefundAsRead's statement says, decided before it is built. */
export interface RefundSuccessAsRead {
  refundId: RefundId;
  paymentId: PaymentId;
  openStatuses: readonly string[];
  /** The payment row's version the move was decided on. */
  version: string;
  from: PaymentStatus;
  to: PaymentStatus;
  pgRefundId: string;
  source: EventSource;
  /** The history row's detail, as JSON text. */
  detail: string;
  outbox?: { notification: HostNotification; handOff: NotificationHandOff | undefined };
}

// Compiled once per shape and prepared on PostgreSQL (named-statements.ts): every row it reaches is
// by its key.
export const refundSuccessAsReadStatements = new Precompiled({
  build: buildRefundSuccessAsRead,
  shape: refundSuccessAsReadShape,
  parameters: refundSuccessAsReadParameters,
  prepared: true,
});

/** What changes the statement's text: how many open statuses, and the outbox row (if any). */
function refundSuccessAsReadShape(statement: RefundSuccessAsRead): string {
  const outbox = statement.outbox === undefined ? "" : queuedNotificationShape(statement.outbox.handOff);
  return `${statement.openStatuses.length}; ${outbox}`;
}

/** buildRefundSuccessAsRead's parameters, in the order its text takes them. */
function refundSuccessAsReadParameters(statement: RefundSuccessAsRead): unknown[] {
  const { refundId, paymentId, openStatuses, version, from, to, pgRefundId, source, detail, outbox } = statement;
  // One line per CTE, in the text's order.
  return [
    ...[refundId, paymentId, ...openStatuses],
    ...[version, from],
    ...[pgRefundId, refundId],
    ...[to, from],
    ...[from, to, REFUNDED_EVENT, source, detail],
    ...(outbox === undefined ? [] : queuedNotificationParameters(outbox.notification, outbox.handOff)),
  ];
}

function buildRefundSuccessAsRead(db: Executor, statement: RefundSuccessAsRead) {
  const { refundId, paymentId, openStatuses, version, from, to, pgRefundId, source, detail, outbox } = statement;
  const queued = outbox === undefined ? sql`` : sql`, ${queuedNotification(outbox.notification, "paid", outbox.handOff)}`;
  return compilableSql(
    db,
    sql<PaymentRow & BornClaimedColumns>`
    WITH refund_locked AS (
      SELECT id, payment_id FROM money_movements
      WHERE id = ${refundId} AND kind = 'REFUND' AND payment_id = ${paymentId} AND status IN (${sql.join([...openStatuses])})
      FOR UPDATE
    ), payment_locked AS (
      SELECT p.id FROM payments p JOIN refund_locked r ON r.payment_id = p.id
      WHERE p.xmin = ${version}::xid AND p.status = ${from}
      FOR UPDATE OF p
    ), moved AS (
      UPDATE money_movements m SET status = 'SUCCEEDED', pg_reference = ${pgRefundId}, updated_at = now()
      FROM payment_locked WHERE m.id = ${refundId} AND m.payment_id = payment_locked.id
      RETURNING m.payment_id
    ), paid AS (
      UPDATE payments SET status = ${to}, updated_at = now()
      FROM moved WHERE payments.id = moved.payment_id AND payments.status = ${from}
      RETURNING ${paymentColumnsOf("payments")}
    ), history AS (
      INSERT INTO payment_events (payment_id, from_status, to_status, event, source, detail)
      SELECT paid.id, ${from}, ${to}, ${REFUNDED_EVENT}, ${source}, ${detail}::jsonb FROM paid)${queued}
    SELECT ${paymentColumnsOf("paid")}${outbox === undefined ? sql`` : sql`, ${BORN_CLAIMED}`} FROM paid`,
  );
}
