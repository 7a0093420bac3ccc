import { sql, type Kysely } from "kysely";

/**
 * Unverified webhooks (issue 9): a body that fails verification is kept as a short excerpt plus the
 * SHA-256 and size of the whole, and REJECTED (and ignored) rows are purged after a retention period.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE pg_webhooks ADD COLUMN body_sha256 text`.execute(db);
  await sql`ALTER TABLE pg_webhooks ADD COLUMN body_bytes integer`.execute(db);
  // The purge's predicate, spelled as the purge spells it (purgeExpiredWebhooks, src/storage/webhook-repository.ts).
  await sql`CREATE INDEX pg_webhooks_purgeable ON pg_webhooks (received_at)
            WHERE status = 'REJECTED' OR (status = 'PROCESSED' AND action->>'kind' = 'ignored')`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
