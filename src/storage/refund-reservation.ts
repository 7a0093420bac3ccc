/**
 * A host's cancel read and reserved in one statement: the order's captured payment and its movements
 * (one snapshot, as readCapturedPayment returns it), and, when that snapshot allows the cancel, the
 * refund reserved with its REFUND_REQUESTED history row and the payment row written (see the top of
 * refund-statements.ts), only if the payment row is still the version the snapshot read.
 *
 * The rules are the cancel's own (cancel-payment.ts `decide`), written here as a condition that reserves
 * only when `decide` would: the payment paid in this nation and currency (and PG and pay type when
 * named), not cancelled, its remaining balance exactly the host's CurrentTotalPrice and at least the
 * refund, no refund waiting for the PG, and no earlier refund this cancel would replay (the same
 * idempotency key, or a host refund of the same amounts from the same balance). The caller still runs
 * `decide` on the snapshot returned: it answers every refusal and replay, and checks a reservation.
 * When the snapshot allows the cancel but nothing was reserved, the payment changed since the snapshot
 * and the caller takes the locked path.
 */
import { sql } from "kysely";
import { CAPTURED_STATUSES, type EventSource } from "../core/payment-state.ts";
import { paymentColumnsOf, toPayment, type Executor } from "./payment-repository.ts";
import { compilableSql, Precompiled } from "./precompiled.ts";
import { EXTERNAL_REFUND_FINGERPRINT, refundRow, type NewRefund, type RefundRow } from "./money-movement-repository.ts";
import {
  movementJson,
  movementOf,
  movementsOf,
  pendingRefundFromTouched,
  pendingRefundFromTouchedParameters,
  type JsonMovement,
  type PaymentSnapshot,
} from "./refund-statements.ts";
import type { PaymentRow } from "./schema.ts";

/** What the host's cancel claims about the order, checked against the snapshot before reserving. */
export interface CancelClaims {
  tenant: string;
  orderId: number;
  /** Upper case, as payments store it. */
  nationCode: string;
  currency: string;
  expectPg: string | undefined;
  expectPayType: string | undefined;
  /** The host's CurrentTotalPrice: must be the remaining balance. */
  current: bigint;
  /** The refund asked for; undefined = the whole balance (FullCancel). */
  refund: bigint | undefined;
  idempotencyKey: string | null;
}

export interface SnapshotAndReservation {
  snapshot: PaymentSnapshot;
  /** The refund reserved, and the payment row's version after it; undefined when nothing was reserved. */
  reserved: { refund: RefundRow; paymentVersion: string } | undefined;
}

/**
 * Reads the order's captured payment and reserves `r` when the claims hold on that snapshot and the
 * payment row is unchanged at the reservation; undefined when the order has no captured payment.
 * `r.amount` must be the claimed refund (or the claimed balance) and `r.balanceBefore` the claimed balance.
 */
export async function readAndReserveRefund(
  db: Executor,
  claims: CancelClaims,
  r: Omit<NewRefund, "paymentId">,
  event: { source: EventSource; detail: Record<string, unknown> },
): Promise<SnapshotAndReservation | undefined> {
  const { rows } = await db.executeQuery(
    readAndReserveStatements.compiled(db, { claims, r, event: { source: event.source, detail: JSON.stringify(event.detail) } }),
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  const { row_version, movements, payment_version, refund_movement, ...payment } = row;
  const snapshot = { payment: toPayment(payment), version: row_version, movements: movements.map(movementOf) };
  if (payment_version === null || refund_movement === null) return { snapshot, reserved: undefined };
  const refund = refundRow(movementOf(refund_movement));
  return { snapshot, reserved: { refund, paymentVersion: payment_version } };
}

/** What readAndReserveRefund's statement says. */
export interface ReadAndReserve {
  claims: CancelClaims;
  r: Omit<NewRefund, "paymentId">;
  /** The history row's source, and its detail as JSON text. */
  event: { source: EventSource; detail: string };
}

type ReadAndReserveRow = PaymentRow & {
  row_version: string;
  movements: JsonMovement[];
  payment_version: string | null;
  refund_movement: JsonMovement | null;
};

// Compiled once per shape and prepared on PostgreSQL (named-statements.ts): the payment is reached by
// payments_one_captured's unique key (its statuses written as literals, so a generic plan can use that
// partial index), its movements by payment id, and every result column is named.
export const readAndReserveStatements = new Precompiled({
  build: buildReadAndReserve,
  shape: readAndReserveShape,
  parameters: readAndReserveParameters,
  prepared: true,
});

/** What changes the statement's text: which optional claims the cancel makes. */
function readAndReserveShape({ claims }: ReadAndReserve): string {
  return [
    claims.expectPg === undefined ? "" : "pg",
    claims.expectPayType === undefined ? "" : "pay type",
    claims.idempotencyKey === null ? "" : "key",
    claims.refund === undefined ? "full" : "partial",
  ].join(";");
}

/** buildReadAndReserve's parameters, in the order its text takes them. */
function readAndReserveParameters({ claims, r, event }: ReadAndReserve): unknown[] {
  const current = claims.current.toString();
  return [
    claims.nationCode,
    claims.currency,
    ...(claims.expectPg === undefined ? [] : [claims.expectPg]),
    ...(claims.expectPayType === undefined ? [] : [claims.expectPayType]),
    current,
    r.amount.toString(),
    current,
    current,
    ...(claims.idempotencyKey === null ? [] : [claims.idempotencyKey]),
    EXTERNAL_REFUND_FINGERPRINT,
    current,
    ...(claims.refund === undefined ? [] : [claims.refund.toString()]),
    claims.tenant,
    claims.orderId,
    ...pendingRefundFromTouchedParameters(r),
    event.source,
    event.detail,
  ];
}

function buildReadAndReserve(db: Executor, { claims, r, event }: ReadAndReserve) {
  const current = sql`${claims.current.toString()}::bigint`;
  const sameAmounts = claims.refund === undefined ? sql`m.balance_after = 0` : sql`m.amount = ${claims.refund.toString()}::bigint`;
  return compilableSql(
    db,
    sql<ReadAndReserveRow>`
    WITH snapshot AS (
      SELECT ${paymentColumnsOf("p")}, p.xmin::text AS row_version, ${movementsOf(sql`p.id`)} AS movements,
        (p.status <> 'CANCELLED' AND p.nation_code = ${claims.nationCode} AND p.currency = ${claims.currency}
          ${claims.expectPg === undefined ? sql`` : sql`AND p.pg = ${claims.expectPg}`}
          ${claims.expectPayType === undefined ? sql`` : sql`AND p.pay_type = ${claims.expectPayType}`}
          AND ${current} > 0 AND ${r.amount.toString()}::bigint <= ${current}
          AND (SELECT coalesce(sum(m.amount) FILTER (WHERE m.kind = 'CAPTURE' AND m.status = 'SUCCEEDED'), 0)
                    - coalesce(sum(m.amount) FILTER (WHERE m.kind = 'REFUND' AND m.status <> 'FAILED'), 0)
               FROM money_movements m WHERE m.payment_id = p.id) = ${current}
          AND NOT EXISTS (
            SELECT 1 FROM money_movements m
            WHERE m.payment_id = p.id AND m.kind = 'REFUND' AND (
              m.status IN ('PENDING', 'UNKNOWN')
              ${claims.idempotencyKey === null ? sql`` : sql`OR m.idempotency_key = ${claims.idempotencyKey}`}
              OR (m.status <> 'FAILED' AND m.request_fingerprint IS DISTINCT FROM ${EXTERNAL_REFUND_FINGERPRINT}
                  AND m.balance_before = ${current} AND ${sameAmounts})))
        ) AS reservable
      FROM payments p
      WHERE p.tenant = ${claims.tenant} AND p.order_id = ${claims.orderId} AND p.status IN (${sql.join(CAPTURED_STATUSES.map((s) => sql.lit(s)))})
      LIMIT 1
    ), touched AS (
      UPDATE payments SET status = payments.status FROM snapshot
      WHERE payments.id = snapshot.id AND payments.xmin = snapshot.row_version::xid AND snapshot.reservable
      RETURNING payments.id, payments.status, payments.xmin::text AS version
    ), refund AS (
      ${pendingRefundFromTouched(r)}
      RETURNING payment_id, ${movementJson("money_movements")} AS movement
    ), history AS (
      INSERT INTO payment_events (payment_id, from_status, to_status, event, source, detail)
      SELECT touched.id, touched.status, touched.status, 'REFUND_REQUESTED', ${event.source}, ${event.detail}::jsonb
      FROM refund JOIN touched ON touched.id = refund.payment_id
    )
    SELECT ${paymentColumnsOf("snapshot")}, snapshot.row_version, snapshot.movements, touched.version AS payment_version, refund.movement AS refund_movement
    FROM snapshot LEFT JOIN touched ON true LEFT JOIN refund ON true`,
  );
}
