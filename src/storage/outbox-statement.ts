/**
 * The outbox row of a one-statement move (transition-as-read.ts transitionAsRead, refund-statements.ts
 * succeedRefundAsRead): a CTE `queued` that inserts the notification from the CTE naming the moved
 * payment row, and, with a hand-off, writes it born claimed by this process's dispatcher (migration
 * 0010) — unless the tenant's endpoint is down (an outage holds it back). The order's lock may still
 * hand it back to the ordinary claim: RETURNING says which it became, and handOver passes it on.
 */
import { sql, type RawBuilder } from "kysely";
import type { NotificationHandOff } from "../core/deps.ts";
import type { HostNotification } from "../core/host-notification.ts";
import { endpointDown } from "./endpoint-repository.ts";

export function queuedNotification(notification: HostNotification, moved: string, handOff: NotificationHandOff | undefined): RawBuilder<unknown> {
  const from = sql.table(moved);
  const born = handOff === undefined ? sql<boolean>`false` : sql<boolean>`NOT ${endpointDown(`${moved}.tenant`)}`;
  return sql`queued AS (
    INSERT INTO notifications (id, tenant, payment_id, order_id, type, payload, status, next_attempt_at, claim_token, attempts)
    SELECT ${notification.NotificationId}, ${sql.ref(`${moved}.tenant`)}, ${sql.ref(`${moved}.id`)}, ${sql.ref(`${moved}.order_id`)}, ${notification.Type},
      ${JSON.stringify(notification)}::jsonb, 'PENDING',
      CASE WHEN ${born} THEN now() + make_interval(secs => ${(handOff?.claimMs ?? 0) / 1000}) ELSE now() END,
      CASE WHEN ${born} THEN ${handOff?.claimToken ?? null}::text END,
      CASE WHEN ${born} THEN 1 ELSE 0 END
    FROM ${from}
    RETURNING claim_token IS NOT NULL AS born_claimed, CASE WHEN claim_token IS NOT NULL THEN payload END AS born_payload)`;
}

/** queuedNotification's parameters, in the order its text takes them (precompiled.ts checks this). */
export function queuedNotificationParameters(notification: HostNotification, handOff: NotificationHandOff | undefined): unknown[] {
  return [notification.NotificationId, notification.Type, JSON.stringify(notification), (handOff?.claimMs ?? 0) / 1000, handOff?.claimToken ?? null];
}

/** What changes queuedNotification's text: whether it may be born claimed. Part of a statement's shape. */
export function queuedNotificationShape(handOff: NotificationHandOff | undefined): string {
  return handOff === undefined ? "queued" : "queued, born claimed";
}

/**
 * The select-list columns saying whether `queued` wrote its row born claimed, and then its payload as
 * stored: what is sent must be what a later claim would send, byte for byte (jsonb orders its keys).
 */
export const BORN_CLAIMED = sql`(SELECT born_claimed FROM queued) AS born_claimed, (SELECT born_payload FROM queued) AS born_payload`;

/** The columns BORN_CLAIMED adds to a statement's row. */
export interface BornClaimedColumns {
  born_claimed?: boolean | null;
  born_payload?: unknown;
}

/** Hands a notification written born claimed to the dispatcher, once the statement has committed. */
export function handOver(
  notification: HostNotification,
  payment: { id: string; tenant: string },
  born: BornClaimedColumns,
  handOff: NotificationHandOff | undefined,
): void {
  if (born.born_claimed === true)
    handOff?.deliver({
      id: notification.NotificationId,
      tenant: payment.tenant,
      payment_id: payment.id,
      payload: born.born_payload,
      attempts: 1,
      later_pending: false,
    });
}

/**
 * A one-statement move's answer row: hands over its notification if it was written born claimed
 * (handOver), and gives the row without the outbox's columns.
 */
export function handedOver<R extends BornClaimedColumns & { id: string; tenant: string }>(
  row: R,
  notification: HostNotification | undefined,
  handOff: NotificationHandOff | undefined,
): Omit<R, keyof BornClaimedColumns> {
  const { born_claimed, born_payload, ...rest } = row;
  if (notification !== undefined) handOver(notification, row, { born_claimed, born_payload }, handOff);
  return rest;
}
