/**
 * All SQL of the outbox (notifications, notification_attempts) outside the transaction that enqueues
 * a notification (payment-repository.ts): the dispatcher's claims and records of its attempts, what
 * the ops API shows of an order's notifications, and an operator's replay (ops API, console, CLI).
 */
import { sql, type Kysely } from "kysely";
import { leaseIsDead } from "./lease-repository.ts";
import { clearAnsweredEndpoints, endpointDown } from "./endpoint-repository.ts";
import { compilableSql, Precompiled } from "./precompiled.ts";
import type { Database, NotificationRow } from "./schema.ts";

type Executor = Kysely<Database>;

/** A notification claimed for one delivery attempt. */
export interface ClaimedNotification {
  id: string;
  tenant: string;
  payment_id: string;
  payload: unknown;
  /** Attempts counted against the budget, this one included. */
  attempts: number;
  /** A later notification of the same order is pending: it becomes claimable once this one is delivered. */
  later_pending: boolean;
}

/** An attempt's outcome: delivered, to be retried at its `next_attempt_at`, or given up (DEAD, replayable). */
export type AttemptOutcome = "DELIVERED" | "RETRY" | "DEAD";

/**
 * Claims up to `limit` due notifications for `token` (FOR UPDATE SKIP LOCKED), counting the attempt:
 * PENDING, due (or claimed by a process whose lease is gone), every earlier one of the order
 * delivered, the tenant's endpoint not down. The claim lasts `leaseMs`.
 */
export async function claimDueNotifications(db: Executor, token: string, leaseMs: number, limit: number): Promise<ClaimedNotification[]> {
  const result = await sql<ClaimedNotification>`
    UPDATE notifications n
    SET claim_token = ${token},
        attempts = n.attempts + 1,
        next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
    WHERE n.id IN (
      SELECT c.id FROM notifications c
      WHERE c.status = 'PENDING' AND (c.next_attempt_at <= now() OR (c.claim_token IS NOT NULL AND ${leaseIsDead("c.claim_token")}))
        AND NOT EXISTS (
          SELECT 1 FROM notifications e
          WHERE e.tenant = c.tenant AND e.order_id = c.order_id AND e.seq < c.seq AND e.status <> 'DELIVERED')
        AND NOT ${endpointDown("c.tenant")}
      ORDER BY c.next_attempt_at, c.seq
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING n.id, n.tenant, n.payment_id, n.payload, n.attempts, EXISTS (
      SELECT 1 FROM notifications l
      WHERE l.tenant = n.tenant AND l.order_id = n.order_id AND l.seq > n.seq AND l.status = 'PENDING') AS later_pending`.execute(db);
  return result.rows;
}

/**
 * Claims a probe of `tenant`'s down endpoint: its oldest sendable notification, backoff or not. The
 * attempt is not counted (`attempts` answers what it would be): an outage does not use up the budget.
 */
export async function claimProbeNotification(db: Executor, tenant: string, token: string, leaseMs: number): Promise<ClaimedNotification[]> {
  const result = await sql<ClaimedNotification>`
    UPDATE notifications n
    SET claim_token = ${token}, next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
    WHERE n.id IN (
      SELECT c.id FROM notifications c
      WHERE c.tenant = ${tenant} AND c.status = 'PENDING' AND (c.claim_token IS NULL OR c.next_attempt_at <= now() OR ${leaseIsDead("c.claim_token")})
        AND NOT EXISTS (
          SELECT 1 FROM notifications e
          WHERE e.tenant = c.tenant AND e.order_id = c.order_id AND e.seq < c.seq AND e.status <> 'DELIVERED')
      ORDER BY c.seq
      LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING n.id, n.tenant, n.payment_id, n.payload, n.attempts + 1 AS attempts, EXISTS (
      SELECT 1 FROM notifications l
      WHERE l.tenant = n.tenant AND l.order_id = n.order_id AND l.seq > n.seq AND l.status = 'PENDING') AS later_pending`.execute(db);
  return result.rows;
}

/** When the next claimable notification falls due (ms from now; negative: overdue), if any is pending. */
export async function msUntilNextDueNotification(db: Executor): Promise<number | undefined> {
  const result = await sql<{ ms: number | null }>`
    SELECT (extract(epoch FROM min(c.next_attempt_at) - now()) * 1000)::float8 AS ms
    FROM notifications c
    WHERE c.status = 'PENDING'
      AND NOT EXISTS (
        SELECT 1 FROM notifications e
        WHERE e.tenant = c.tenant AND e.order_id = c.order_id AND e.seq < c.seq AND e.status <> 'DELIVERED')
      AND NOT ${endpointDown("c.tenant")}`.execute(db);
  const ms = result.rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}

/** Hands back everything `token` still holds, due at once, so another process sends it right away. */
export async function releaseNotificationClaims(db: Executor, token: string): Promise<void> {
  await db
    .updateTable("notifications")
    .set({ claim_token: null, next_attempt_at: sql<Date>`now()` })
    .where("claim_token", "=", token)
    .where("status", "=", "PENDING")
    .execute();
}

export interface AttemptRecord {
  notificationId: string;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: AttemptOutcome;
  nextAttemptAt: Date | null;
  worker: string;
}

/** Records attempts in notification_attempts, in one statement. */
export async function insertNotificationAttempts(db: Executor, attempts: readonly AttemptRecord[]): Promise<void> {
  await db
    .insertInto("notification_attempts")
    .values(
      attempts.map((a) => ({
        notification_id: a.notificationId,
        // Numbered by the attempts recorded, probes included (a probe the host never answered is not
        // counted in `attempts`, the budget).
        attempt: sql<number>`(SELECT count(*)::int + 1 FROM notification_attempts WHERE notification_id = ${a.notificationId})`,
        started_at: a.startedAt,
        duration_ms: a.durationMs,
        status_code: a.statusCode,
        error: a.error,
        outcome: a.outcome,
        next_attempt_at: a.nextAttemptAt,
        worker: a.worker,
      })),
    )
    .execute();
}

/** Marks notifications DELIVERED, guarded by `token`'s claim: if the lease ran out and another process took over, it decides. */
export async function markNotificationsDelivered(db: Executor, ids: readonly string[], token: string): Promise<void> {
  await db
    .updateTable("notifications")
    .set({ status: "DELIVERED", delivered_at: sql<Date>`now()`, last_error: null, claim_token: null })
    .where("id", "in", ids)
    .where("claim_token", "=", token)
    .where("status", "=", "PENDING")
    .execute();
}

/**
 * Records a batch of attempts that were all answered 2xx (none a probe), in one statement, so one
 * round trip and one commit: the attempts inserted, the notifications marked DELIVERED (guarded by
 * `token`'s claim, as markNotificationsDelivered), and each tenant's endpoint cleared as
 * recordEndpointAnswered does (the same SQL, clearAnsweredEndpoints), releasing what its outage held
 * back. Answers, per tenant whose endpoint was down, how many notifications were released.
 *
 * The batch goes in as one array per field, so the text is the same for every batch size and runs as a
 * prepared statement on PostgreSQL (named-statements.ts): planning it each time cost three times its
 * execution. Its plan may be built on empty tables, so each table is reached only through a key: ids
 * as `= ANY(ARRAY(...))` or one probe per row (a join would scan the "small" table), and status
 * compared as an expression, or the index of every PENDING notification looks cheapest. Each array is
 * read through a subquery so that the planner cannot see its length: where it could, a custom plan for
 * the usual one-row batch always looked cheaper than the generic plan, and PostgreSQL planned the
 * statement afresh on almost every run (0.25 ms each time, more than the 0.13–0.22 ms the run took).
 */
export async function recordDeliveredAttempts(db: Executor, attempts: readonly AttemptRecord[], token: string): Promise<Map<string, number>> {
  const batch: DeliveredBatch = {
    ids: attempts.map((a) => a.notificationId),
    startedAt: attempts.map((a) => a.startedAt),
    durationMs: attempts.map((a) => a.durationMs),
    statusCode: attempts.map((a) => a.statusCode),
    worker: attempts.map((a) => a.worker),
    token,
  };
  const result = await db.executeQuery(deliveredBatchStatement.compiled(db, batch));
  return new Map(result.rows.map((r) => [r.tenant, Number(r.released)]));
}

/** A delivered batch, one array per field: the parameters of recordDeliveredAttempts' statement, in order. */
interface DeliveredBatch {
  ids: string[];
  startedAt: Date[];
  durationMs: number[];
  statusCode: Array<number | null>;
  worker: string[];
  token: string;
}

// One text for every batch size, compiled once and prepared (precompiled.ts).
const deliveredBatchStatement = new Precompiled({
  build: (db: Executor, b: DeliveredBatch) =>
    compilableSql(
      db,
      sql<{ tenant: string; released: number }>`
    WITH batch AS (
      SELECT b.notification_id, b.started_at, b.duration_ms, b.status_code, b.worker
      FROM unnest((SELECT ${b.ids}::text[]), (SELECT ${b.startedAt}::timestamptz[]), (SELECT ${b.durationMs}::int[]),
        (SELECT ${b.statusCode}::int[]), (SELECT ${b.worker}::text[])) AS b (notification_id, started_at, duration_ms, status_code, worker)),
    delivered AS (
      UPDATE notifications d SET status = 'DELIVERED', delivered_at = now(), last_error = NULL, claim_token = NULL
      WHERE d.id = ANY(ARRAY(SELECT notification_id FROM batch)) AND d.claim_token = ${b.token} AND d.status || '' = 'PENDING'),
    recorded AS (
      INSERT INTO notification_attempts (notification_id, attempt, started_at, duration_ms, status_code, error, outcome, next_attempt_at, worker)
      SELECT b.notification_id, (SELECT count(p.id)::int + 1 FROM notification_attempts p WHERE p.notification_id = b.notification_id),
        b.started_at, b.duration_ms, b.status_code, NULL, 'DELIVERED', NULL, b.worker
      FROM batch b),${clearAnsweredEndpoints(sql`SELECT (SELECT n.tenant FROM notifications n WHERE n.id = b.notification_id) FROM batch b`)}`,
    ),
  parameters: (b) => [b.ids, b.startedAt, b.durationMs, b.statusCode, b.worker, b.token],
  prepared: true,
});

/**
 * Records one attempt's outcome on its notification and releases the claim, guarded by `token`'s claim.
 * `attempts`: set the budget used (a probe the host answered counts after all).
 */
export async function recordNotificationOutcome(
  db: Executor,
  id: string,
  token: string,
  result: { outcome: AttemptOutcome; error: string | null; nextAttemptAt: Date | null; outageHold: boolean; attempts?: number },
): Promise<void> {
  const counted = result.attempts === undefined ? {} : { attempts: result.attempts };
  const update = db.updateTable("notifications").set(counted).where("id", "=", id).where("claim_token", "=", token).where("status", "=", "PENDING");
  if (result.outcome === "DELIVERED") {
    await update.set({ status: "DELIVERED", delivered_at: sql<Date>`now()`, last_error: null, claim_token: null }).execute();
  } else if (result.outcome === "DEAD") {
    await update.set({ status: "DEAD", last_error: result.error, claim_token: null }).execute();
  } else {
    await update.set({ next_attempt_at: result.nextAttemptAt!, last_error: result.error, claim_token: null, outage_hold: result.outageHold }).execute();
  }
}

/** Every notification of an order, in the order the events happened. */
export async function notificationsOfOrder(db: Executor, tenant: string, orderId: number): Promise<NotificationRow[]> {
  return db.selectFrom("notifications").selectAll().where("tenant", "=", tenant).where("order_id", "=", orderId).orderBy("seq").execute();
}

/** Every recorded delivery attempt of these notifications, oldest first. */
export async function attemptsOfNotifications(db: Executor, notificationIds: readonly string[]) {
  return db.selectFrom("notification_attempts").selectAll().where("notification_id", "in", notificationIds).orderBy("id").execute();
}

/** A notification's delivery status, if `tenant` has a notification `id`. */
export async function notificationStatus(db: Executor, tenant: string, id: string): Promise<NotificationRow["status"] | undefined> {
  const found = await db.selectFrom("notifications").select("status").where("id", "=", id).where("tenant", "=", tenant).executeTakeFirst();
  return found?.status;
}

/** What the console needs to decide on, and to audit, a replay of one notification. */
export async function findNotificationForReplay(db: Executor, id: string) {
  return db.selectFrom("notifications").select(["id", "tenant", "payment_id", "status", "type"]).where("id", "=", id).executeTakeFirst();
}

/** Operator replay: a DEAD notification goes back to PENDING with a fresh attempt budget. */
export async function replayNotifications(db: Executor, tenant: string, filter: { id: string } | { orderId: number }): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    let query = trx
      .updateTable("notifications")
      .set({ status: "PENDING", attempts: 0, next_attempt_at: sql<Date>`now()`, claim_token: null, last_error: null, replayed_at: sql<Date>`now()` })
      .where("tenant", "=", tenant)
      .where("status", "=", "DEAD");
    query = "id" in filter ? query.where("id", "=", filter.id) : query.where("order_id", "=", filter.orderId);
    const rows = await query.returning("id").execute();
    if (rows.length > 0) await sql`SELECT pg_notify('pgb_delivery', 'replay')`.execute(trx);
    return rows.map((r) => r.id);
  });
}
