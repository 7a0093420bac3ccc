import { sql, type Kysely } from "kysely";

/**
 * Notifications born claimed (issue 16): the statement that moves a payment may write its outbox row
 * already claimed by the process that made the move, whose dispatcher then sends it at once with no
 * claim round trip. Per-order order still rules: under the order-wide lock that draws `seq`, a row
 * born claimed while an earlier notification of its order is undelivered is handed back to the
 * ordinary claim (unclaimed, due now). Each statement in this VOLATILE function reads a fresh snapshot,
 * so it sees an earlier notification whose transaction committed while this one waited on the lock.
 * Only unclaimed rows wake the dispatchers: a row born claimed is already on its way.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE OR REPLACE FUNCTION notifications_order_seq() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_advisory_xact_lock(hashtext('pgb-notifications'), hashtext(NEW.tenant || ':' || NEW.order_id::text));
              NEW.seq := nextval(pg_get_serial_sequence('notifications', 'seq'));
              IF NEW.claim_token IS NOT NULL AND EXISTS (
                SELECT 1 FROM notifications e WHERE e.tenant = NEW.tenant AND e.order_id = NEW.order_id AND e.status <> 'DELIVERED') THEN
                NEW.claim_token := NULL;
                NEW.attempts := 0;
                NEW.next_attempt_at := now();
              END IF;
              RETURN NEW;
            END $$`.execute(db);
  await sql`DROP TRIGGER notifications_wake ON notifications`.execute(db);
  await sql`CREATE TRIGGER notifications_wake AFTER INSERT ON notifications
            FOR EACH ROW WHEN (NEW.claim_token IS NULL) EXECUTE FUNCTION pgb_wake_delivery()`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
