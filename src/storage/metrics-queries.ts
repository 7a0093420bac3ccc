/**
 * What GET /metrics reads from the database at scrape time (workers/metrics.ts): the outbox's and the
 * stored PG webhooks' backlog, the same truth for every PGB process sharing the database.
 */
import { sql } from "kysely";
import type { Db } from "./database.ts";

/** Notifications not delivered yet: pending (never tried), retrying (failed at least once), dead (gave up). */
export async function notificationCountsByState(db: Db): Promise<Record<"pending" | "retrying" | "dead", number>> {
  const rows = await sql<{ state: "pending" | "retrying" | "dead"; n: string }>`
    SELECT CASE WHEN status = 'DEAD' THEN 'dead' WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END AS state, count(*)::text AS n
    FROM notifications WHERE status <> 'DELIVERED' GROUP BY 1`.execute(db);
  const counts = { pending: 0, retrying: 0, dead: 0 };
  for (const r of rows.rows) counts[r.state] = Number(r.n);
  return counts;
}

/** Age in seconds of the oldest PENDING notification; 0 when none. */
export async function oldestPendingNotificationSeconds(db: Db): Promise<number> {
  const row = await sql<{ age: number | null }>`
    SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM notifications WHERE status = 'PENDING'`.execute(db);
  return Number(row.rows[0]?.age ?? 0);
}

/** Age in seconds of the oldest stored PG webhook not processed yet (RECEIVED or FAILED); 0 when none. */
export async function oldestUnprocessedWebhookSeconds(db: Db): Promise<number> {
  const row = await sql<{ age: number | null }>`
    SELECT extract(epoch FROM now() - min(received_at))::float8 AS age FROM pg_webhooks WHERE status IN ('RECEIVED','FAILED')`.execute(db);
  return Number(row.rows[0]?.age ?? 0);
}

/** Stored PG webhooks waiting for (re)processing, by status. */
export async function unprocessedWebhookCounts(db: Db): Promise<Record<"RECEIVED" | "FAILED", number>> {
  const rows = await sql<{ status: "RECEIVED" | "FAILED"; n: string }>`
    SELECT status, count(*)::text AS n FROM pg_webhooks WHERE status IN ('RECEIVED','FAILED') GROUP BY status`.execute(db);
  const counts = { RECEIVED: 0, FAILED: 0 };
  for (const r of rows.rows) counts[r.status] = Number(r.n);
  return counts;
}
