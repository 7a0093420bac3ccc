/**
 * The one-statement move (`transitionAsRead`): a payment's guarded update, the capture it brings, its
 * history row and its outbox row written together, for the hot paths that decided on a fresh read.
 * `transition` (payment-repository.ts) is the locked, several-statement form every other move uses.
 */
import { sql, type RawBuilder } from "kysely";
import { runPrepared } from "./named-statements.ts";
import { brand, newId, type PgTransactionId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import { notificationFor, guardOf, type PaymentStatus } from "../core/payment-state.ts";
import { stateNotification, type StateNotificationFields } from "../core/host-notification.ts";
import type { NotificationHandOff } from "../core/deps.ts";
import type { PaymentRow } from "./schema.ts";
import { BORN_CLAIMED, handOver, queuedNotification, type BornClaimedColumns } from "./outbox-statement.ts";
import { paymentColumnsOf, toPayment, type Balance, type Executor, type Payment, type TransitionInput } from "./payment-repository.ts";

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
    /**
     * One more write that belongs to the move and must happen only with it: a data-modifying
     * statement that may read the CTE `moved` (the updated payment row; empty when the guard failed).
     */
    alongside?: RawBuilder<unknown>;
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
  const assignments = Object.entries({ ...patch, status: input.to }).map(([column, value]) => sql`${sql.ref(column)} = ${value}`);
  const capture =
    input.capture === undefined
      ? sql``
      : sql`, captured AS (
          INSERT INTO money_movements (id, payment_id, kind, amount, status, pg_reference, updated_at)
          SELECT ${newId("mm", clock)}, moved.id, 'CAPTURE', moved.amount, 'SUCCEEDED', ${input.capture.pgReference}, now() FROM moved)`;
  const outbox = notification === undefined ? sql`` : sql`, ${queuedNotification(notification, "moved", input.handOff)}`;
  const alongside = input.alongside === undefined ? sql`` : sql`, alongside AS (${input.alongside})`;
  // Prepared on PostgreSQL (named-statements.ts): every row it reaches is by its key.
  const result = await runPrepared(
    db,
    sql<PaymentRow & BornClaimedColumns>`
    WITH moved AS (
      UPDATE payments SET ${sql.join(assignments)}, updated_at = now()
      WHERE id = ${read.id} AND status = ${from}
      RETURNING ${paymentColumnsOf("payments")})${capture},
    history AS (
      INSERT INTO payment_events (payment_id, from_status, to_status, event, source, detail)
      SELECT moved.id, ${from}, ${input.to}, ${input.event}, ${input.source}, ${JSON.stringify(input.detail ?? {})}::jsonb FROM moved)${outbox}${alongside}
    SELECT ${paymentColumnsOf("moved")}${notification === undefined ? sql`` : sql`, ${BORN_CLAIMED}`} FROM moved`,
  );
  const row = result.rows[0];
  if (row === undefined) return undefined;
  const { born_claimed, born_payload, ...paymentRow } = row;
  if (notification !== undefined) handOver(notification, row, { born_claimed, born_payload }, input.handOff);
  return toPayment(paymentRow);
}
