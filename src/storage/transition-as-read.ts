/**
 * The one-statement move (`transitionAsRead`): a payment's guarded update, the capture it brings, its
 * history row and its outbox row written together, for the hot paths that decided on a fresh read.
 * `transition` (payment-repository.ts) is the locked, several-statement form every other move uses.
 */
import { sql, type RawBuilder } from "kysely";
import { brand, newId, type PaymentId, type PgTransactionId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import { notificationFor, guardOf, type EventSource, type PaymentStatus } from "../core/payment-state.ts";
import { stateNotification, type HostNotification, type StateNotificationFields } from "../core/host-notification.ts";
import type { NotificationHandOff } from "../core/deps.ts";
import type { PaymentRow } from "./schema.ts";
import { compilableSql, Precompiled } from "./precompiled.ts";
import {
  BORN_CLAIMED,
  handedOver,
  queuedNotification,
  queuedNotificationParameters,
  queuedNotificationShape,
  type BornClaimedColumns,
} from "./outbox-statement.ts";
import { paymentColumnsOf, toPayment, type Balance, type Executor, type Payment, type TransitionInput } from "./payment-repository.ts";

/**
 * One more write that belongs to a move and must happen only with it: a data-modifying statement that
 * may read the CTE `moved` (the updated payment row; empty when the guard failed). `shape` names its
 * text (the same shape, the same text) and `parameters` are its parameters in the order it takes them,
 * so the move's text can be compiled once per shape (precompiled.ts).
 */
export interface AlongsideWrite {
  shape: string;
  statement: () => RawBuilder<unknown>;
  parameters: readonly unknown[];
}

/**
 * A transition decided on the payment exactly as the caller read it, written in one statement: the
 * guarded update, the capture it brings (if any), its history row and its outbox row, atomic without
 * a transaction of its own. The guard is the state read (`read.status`), so the notification can be
 * built before the write; undefined means the row moved since it was read: the caller then decides
 * again on a fresh read (`transition`). The notification needs the balance after the move: `balance`.
 */
export async function transitionAsRead<To extends PaymentStatus>(
  db: Executor,
  clock: Clock,
  read: Payment,
  input: Omit<TransitionInput<To>, "paymentId" | "expected" | "effects" | "notifyAs" | "balance"> & {
    balance: Balance;
    /** A capture of the payment's whole amount, written with the move (PAID). */
    capture?: { pgReference: string | null };
    /** One more write that belongs to the move and must happen only with it. */
    alongside?: AlongsideWrite;
    /** Write the notification claimed for this dispatcher and hand it over (see migration 0010). */
    handOff?: NotificationHandOff;
  },
): Promise<Payment | undefined> {
  const [from] = guardOf(input.to, input.event, read.status);
  const patch = input.patch ?? {};
  const after: Payment = {
    ...read,
    status: input.to,
    ...(patch.pg_transaction_id === undefined
      ? {}
      : { pgTransactionId: patch.pg_transaction_id === null ? null : brand<PgTransactionId>(patch.pg_transaction_id) }),
  };
  const type = notificationFor(from!, input.to);
  const notification =
    type === undefined
      ? undefined
      : stateNotification(type, after, input.balance, (input.notification ?? {}) as StateNotificationFields[typeof type], newId("msg", clock), clock.now());
  const move: MoveAsRead = {
    paymentId: read.id,
    from: from!,
    to: input.to,
    event: input.event,
    source: input.source,
    detail: JSON.stringify(input.detail ?? {}),
    assignments: Object.entries({ ...patch, status: input.to }),
    ...(input.capture === undefined ? {} : { capture: { id: newId("mm", clock), pgReference: input.capture.pgReference } }),
    ...(notification === undefined ? {} : { outbox: { notification, handOff: input.handOff } }),
    ...(input.alongside === undefined ? {} : { alongside: input.alongside }),
  };
  const result = await db.executeQuery(moveAsReadStatements.compiled(db, move));
  const row = result.rows[0];
  return row === undefined ? undefined : toPayment(handedOver(row, notification, input.handOff));
}

/** Everything transitionAsRead's statement says, decided before it is built. */
export interface MoveAsRead {
  paymentId: PaymentId;
  from: PaymentStatus;
  to: PaymentStatus;
  event: string;
  source: EventSource;
  /** The history row's detail, as JSON text. */
  detail: string;
  /** The payment's columns to set, and their values (plain values, never SQL). */
  assignments: Array<[string, unknown]>;
  capture?: { id: string; pgReference: string | null };
  outbox?: { notification: HostNotification; handOff: NotificationHandOff | undefined };
  alongside?: AlongsideWrite;
}

// Compiled once per shape and prepared on PostgreSQL (named-statements.ts): every row it reaches is
// by its key.
export const moveAsReadStatements = new Precompiled({
  build: buildMoveAsRead,
  shape: moveAsReadShape,
  parameters: moveAsReadParameters,
  prepared: true,
});

/** What changes the statement's text: the columns set, and which optional parts it has. */
function moveAsReadShape(move: MoveAsRead): string {
  const columns = move.assignments.map(([column]) => column).join(",");
  const capture = move.capture === undefined ? "" : "captured";
  const outbox = move.outbox === undefined ? "" : queuedNotificationShape(move.outbox.handOff);
  return `${columns}; ${capture}; ${outbox}; ${move.alongside?.shape ?? ""}`;
}

/** buildMoveAsRead's parameters, in the order its text takes them. */
function moveAsReadParameters(move: MoveAsRead): unknown[] {
  return [
    ...move.assignments.map(([, value]) => value),
    move.paymentId,
    move.from,
    ...(move.capture === undefined ? [] : [move.capture.id, move.capture.pgReference]),
    move.from,
    move.to,
    move.event,
    move.source,
    move.detail,
    ...(move.outbox === undefined ? [] : queuedNotificationParameters(move.outbox.notification, move.outbox.handOff)),
    ...(move.alongside?.parameters ?? []),
  ];
}

function buildMoveAsRead(db: Executor, move: MoveAsRead) {
  const assignments = move.assignments.map(([column, value]) => sql`${sql.ref(column)} = ${value}`);
  const capture =
    move.capture === undefined
      ? sql``
      : sql`, captured AS (
          INSERT INTO money_movements (id, payment_id, kind, amount, status, pg_reference, updated_at)
          SELECT ${move.capture.id}, moved.id, 'CAPTURE', moved.amount, 'SUCCEEDED', ${move.capture.pgReference}, now() FROM moved)`;
  const outbox = move.outbox === undefined ? sql`` : sql`, ${queuedNotification(move.outbox.notification, "moved", move.outbox.handOff)}`;
  const alongside = move.alongside === undefined ? sql`` : sql`, alongside AS (${move.alongside.statement()})`;
  return compilableSql(
    db,
    sql<PaymentRow & BornClaimedColumns>`
    WITH moved AS (
      UPDATE payments SET ${sql.join(assignments)}, updated_at = now()
      WHERE id = ${move.paymentId} AND status = ${move.from}
      RETURNING ${paymentColumnsOf("payments")})${capture},
    history AS (
      INSERT INTO payment_events (payment_id, from_status, to_status, event, source, detail)
      SELECT moved.id, ${move.from}, ${move.to}, ${move.event}, ${move.source}, ${move.detail}::jsonb FROM moved)${outbox}${alongside}
    SELECT ${paymentColumnsOf("moved")}${move.outbox === undefined ? sql`` : sql`, ${BORN_CLAIMED}`} FROM moved`,
  );
}
