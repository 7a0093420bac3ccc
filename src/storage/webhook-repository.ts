/**
 * All SQL of the PG webhooks PGB stores: what arrived (whole when verified, an excerpt and hash
 * otherwise), deduplicated by the PG's event id, and what acting on it came to; the webhook retrier's
 * claims, and the retention purge of what was never acted on.
 */
import { sql, type Insertable } from "kysely";
import { leaseIsDead } from "./lease-repository.ts";
import { paymentColumnsOf, toPayment, type Executor, type Payment } from "./payment-repository.ts";
import { compilableSql, insertedColumns, Precompiled } from "./precompiled.ts";
import type { AlongsideWrite } from "./transition-as-read.ts";
import type { PaymentRow, PgWebhooksTable } from "./schema.ts";

type PgWebhookStatus = PgWebhooksTable["status"];

export interface StoredBody {
  body: string;
  body_sha256: string;
  body_bytes: number;
}

/** A webhook refused at the door (bad signature, say): kept for an operator, never acted on. */
export async function insertRejectedWebhook(
  db: Executor,
  w: { pg: string; tenant: string; eventId: string; headers: string; kept: StoredBody; reason: string },
): Promise<void> {
  await db
    .insertInto("pg_webhooks")
    .values({ pg: w.pg, tenant: w.tenant, event_id: w.eventId, status: "REJECTED", headers: w.headers, ...w.kept, error: w.reason })
    .execute();
}

/** An accepted webhook to store. `claimToken`: the lease of the process that will act on it. */
export interface NewWebhook {
  pg: string;
  tenant: string;
  eventId: string;
  status: "RECEIVED" | "PROCESSED";
  headers: string;
  kept: StoredBody;
  error: string | null;
  action: string;
  claimToken: string | null;
}

/** The row an accepted webhook is stored as (one at a time here, or in a batch by webhook-intake.ts). */
export function storedRow(w: NewWebhook) {
  return {
    pg: w.pg,
    tenant: w.tenant,
    event_id: w.eventId,
    status: w.status,
    headers: w.headers,
    ...w.kept,
    error: w.error,
    action: w.action,
    claim_token: w.claimToken,
  } satisfies Insertable<PgWebhooksTable>;
}

function storing(db: Executor, row: ReturnType<typeof storedRow>) {
  return db
    .insertInto("pg_webhooks")
    .values(row)
    .onConflict((oc) => oc.columns(["pg", "tenant", "event_id"]).doNothing())
    .returning("id");
}

/**
 * Stores an accepted webhook once per (pg, tenant, event id). Answers its id, or undefined when the
 * PG sent this event before.
 */
export async function insertWebhook(db: Executor, w: NewWebhook): Promise<string | undefined> {
  const stored = await storing(db, storedRow(w)).executeTakeFirst();
  return stored === undefined ? undefined : String(stored.id);
}

/**
 * insertWebhook, and in the same statement the payment the event names by PGB's own reference, if it
 * is this PG's: what acting on the webhook reads first, read without a second round trip.
 */
export async function insertWebhookReadingPayment(
  db: Executor,
  w: NewWebhook,
  reference: string,
): Promise<{ id: string; payment: Payment | undefined } | undefined> {
  const { rows } = await db.executeQuery(storingReadingPaymentStatements.compiled(db, { row: storedRow(w), reference }));
  const row = rows[0];
  if (row === undefined) return undefined;
  const { stored_id: id, ...payment } = row;
  return { id, payment: payment.id === null ? undefined : toPayment(payment) };
}

/** What insertWebhookReadingPayment's statement says: the row to store, and the payment's id. */
export interface StoringReadingPayment {
  row: ReturnType<typeof storedRow>;
  reference: string;
}

// Compiled once per set of columns stored and prepared on PostgreSQL (named-statements.ts): the
// insert and the payment are each reached by a key.
export const storingReadingPaymentStatements = new Precompiled({
  build: (db: Executor, { row, reference }: StoringReadingPayment) =>
    compilableSql(
      db,
      sql<PaymentRow & { stored_id: string }>`
    WITH stored AS (${storing(db, row)})
    SELECT ${paymentColumnsOf("p")}, stored.id::text AS stored_id FROM stored LEFT JOIN payments p ON p.id = ${reference} AND p.pg = ${row.pg}`,
    ),
  shape: ({ row }) => insertedColumns(row).join(","),
  parameters: ({ row, reference }) => [...insertedColumns(row).map((column) => row[column]), reference, row.pg],
  prepared: true,
});

export async function findStoredWebhook(db: Executor, id: string) {
  return db.selectFrom("pg_webhooks").select(["id", "pg", "tenant", "event_id", "action"]).where("id", "=", id).executeTakeFirst();
}

/** What acting on it came to; one more attempt, and the claim released. */
function outcome(status: "PROCESSED" | "FAILED", error: string | null) {
  return sql`status = ${status}, error = ${error}, attempts = attempts + 1, processed_at = ${status === "PROCESSED" ? sql`now()` : null}, claim_token = NULL`;
}

export async function markWebhook(db: Executor, id: string, status: "PROCESSED" | "FAILED", error: string | null): Promise<void> {
  await sql`UPDATE pg_webhooks SET ${outcome(status, error)} WHERE id = ${id}`.execute(db);
}

/**
 * The webhook's PROCESSED mark as one more write of the payment move it caused (transitionAsRead's
 * `alongside`): it applies only when the move did, so the two commit or fail together.
 */
export function processedWithMove(id: string): AlongsideWrite {
  return {
    shape: "webhook processed",
    statement: () => sql`UPDATE pg_webhooks SET ${outcome("PROCESSED", null)} WHERE id = ${id} AND EXISTS (SELECT 1 FROM moved)`,
    // outcome's status and error, then the id.
    parameters: ["PROCESSED", null, id],
  };
}

/**
 * Claims for `token` up to `limit` stored webhooks due another run (FOR UPDATE SKIP LOCKED), whose
 * process is gone: FAILED ones under `maxAttempts` once their backoff (first `backoffMs`) is over,
 * and RECEIVED ones whose process's lease is gone, or stored without a lease `staleAfterMs` ago.
 */
export async function claimWebhooksToRetry(
  db: Executor,
  token: string,
  limit: number,
  settings: { staleAfterMs: number; maxAttempts: number; backoffMs: number },
): Promise<Array<{ id: string; event_id: string; pg: string }>> {
  const claimed = await sql<{ id: string; event_id: string; pg: string }>`
    UPDATE pg_webhooks w
    SET claim_token = ${token}
    WHERE w.id IN (
      SELECT c.id FROM pg_webhooks c
      WHERE c.status IN ('RECEIVED','FAILED') AND ${leaseIsDead("c.claim_token")}
        AND ((c.status = 'RECEIVED' AND (c.claim_token IS NOT NULL OR c.received_at + ${settings.staleAfterMs} * interval '1 millisecond' <= now()))
          OR (c.status = 'FAILED' AND c.attempts < ${settings.maxAttempts}
              AND coalesce(c.next_attempt_at, c.received_at + ${settings.backoffMs} * interval '1 millisecond') <= now()))
      ORDER BY c.id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING w.id::text AS id, w.event_id, w.pg`.execute(db);
  return claimed.rows;
}

/** How many times a stored webhook was acted on, and what it came to. */
export async function webhookProgress(db: Executor, id: string): Promise<{ attempts: number; status: PgWebhookStatus }> {
  return db.selectFrom("pg_webhooks").select(["attempts", "status"]).where("id", "=", id).executeTakeFirstOrThrow();
}

/** Releases `token`'s claim; `next`: when a FAILED one is due again (null: not scheduled). */
export async function releaseWebhookClaim(db: Executor, id: string, token: string, next: Date | null): Promise<void> {
  await db.updateTable("pg_webhooks").set({ claim_token: null, next_attempt_at: next }).where("id", "=", id).where("claim_token", "=", token).execute();
}

/** Rows deleted per statement, so a large backlog never holds one long transaction. */
const PURGE_BATCH = 5_000;

/**
 * Unverified and ignored webhooks are kept for the audit trail, then purged: REJECTED rows (an
 * excerpt and hash of what failed verification) and ignored events, once older than the retention.
 * Rows PGB acted on stay: they are the evidence behind a payment's history. Answers how many went.
 */
export async function purgeExpiredWebhooks(db: Executor, retentionDays: number): Promise<number> {
  const cutoffMs = Math.round(retentionDays * 86_400_000);
  let total = 0;
  for (;;) {
    const result = await sql`
      DELETE FROM pg_webhooks WHERE id IN (
        SELECT id FROM pg_webhooks
        WHERE received_at < now() - ${cutoffMs} * interval '1 millisecond'
          AND (status = 'REJECTED' OR (status = 'PROCESSED' AND action->>'kind' = 'ignored'))
        LIMIT ${PURGE_BATCH})`.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < PURGE_BATCH) return total;
  }
}
