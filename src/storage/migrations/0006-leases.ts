import { sql, type Kysely } from "kysely";

/**
 * Recovery in seconds (issue 15):
 * - process_leases: each PGB process holds one row and renews it on a heartbeat. Work a process is
 *   doing (a refund waiting for the PG, a webhook being acted on) carries its token; once the row
 *   expires — the process died — any other process takes that work over.
 * - notify_endpoints: per tenant, whether its notifyUrl looks down (consecutive host-level failures)
 *   and when to probe it next; notifications.outage_hold marks the ones in backoff because of the
 *   host, released at once when it answers again.
 * - checkout_closes: a superseded checkout still to be closed at the PG, finished by any process.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE process_leases (
              token text PRIMARY KEY,
              pid integer NOT NULL,
              started_at timestamptz NOT NULL DEFAULT now(),
              expires_at timestamptz NOT NULL)`.execute(db);
  await sql`ALTER TABLE money_movements ADD COLUMN lease_token text`.execute(db);
  await sql`CREATE INDEX money_movements_unsent_refunds ON money_movements (updated_at)
            WHERE kind = 'REFUND' AND status = 'PENDING' AND pg_reference IS NULL`.execute(db);
  await sql`CREATE INDEX pg_webhooks_open ON pg_webhooks (id) WHERE status IN ('RECEIVED','FAILED')`.execute(db);

  await sql`CREATE TABLE notify_endpoints (
              tenant text PRIMARY KEY,
              failures integer NOT NULL DEFAULT 0,
              down_since timestamptz,
              next_probe_at timestamptz)`.execute(db);
  await sql`ALTER TABLE notifications ADD COLUMN outage_hold boolean NOT NULL DEFAULT false`.execute(db);

  await sql`CREATE TABLE checkout_closes (
              payment_id text PRIMARY KEY REFERENCES payments(id),
              attempts integer NOT NULL DEFAULT 0,
              next_attempt_at timestamptz NOT NULL DEFAULT now(),
              lease_token text,
              last_error text,
              created_at timestamptz NOT NULL DEFAULT now())`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
