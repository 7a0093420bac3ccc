/**
 * Unverified and ignored webhooks are kept for the audit trail, then purged: REJECTED rows (an
 * excerpt and hash of what failed verification) and ignored events, once older than the retention.
 * Rows PGB acted on stay: they are the evidence behind a payment's history.
 */
import { sql, type Kysely } from "kysely";

/** Rows deleted per statement, so a large backlog never holds one long transaction. */
const PURGE_BATCH = 5_000;

export async function purgeExpiredWebhooks(db: Kysely<unknown>, retentionDays: number): Promise<number> {
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
