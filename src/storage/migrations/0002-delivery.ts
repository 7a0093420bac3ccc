import { sql, type Kysely } from "kysely";

/**
 * Reliable delivery (issue 3): the record of every notification attempt, the claim columns that let
 * many PGB processes share the outbox and the webhook retries, the reconciler's per-subject backoff,
 * and the wake-up signal (NOTIFY) that lets a dispatcher see a new outbox row within milliseconds.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("notification_attempts")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("notification_id", "text", (c) => c.notNull().references("notifications.id"))
    .addColumn("attempt", "integer", (c) => c.notNull())
    .addColumn("started_at", "timestamptz", (c) => c.notNull())
    .addColumn("duration_ms", "integer", (c) => c.notNull())
    .addColumn("status_code", "integer")
    .addColumn("error", "text")
    .addColumn("outcome", "text", (c) => c.notNull().check(sql`outcome IN ('DELIVERED','RETRY','DEAD')`))
    .addColumn("next_attempt_at", "timestamptz")
    .addColumn("worker", "text", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX notification_attempts_by_notification ON notification_attempts (notification_id, id)`.execute(db);

  // A claim is a lease: the claimer pushes next_attempt_at past its attempt's time-out and stamps its
  // token. A process that dies mid-attempt simply lets the lease run out; another one takes over.
  await sql`ALTER TABLE notifications ADD COLUMN claim_token text`.execute(db);
  await sql`ALTER TABLE notifications ADD COLUMN replayed_at timestamptz`.execute(db);
  await sql`CREATE INDEX notifications_undelivered_by_order ON notifications (tenant, order_id, seq) WHERE status <> 'DELIVERED'`.execute(db);

  // What the connector made of the webhook, so a retry needs neither the (by then stale) signature
  // nor the connector's parser.
  await sql`ALTER TABLE pg_webhooks ADD COLUMN action jsonb`.execute(db);
  await sql`ALTER TABLE pg_webhooks ADD COLUMN next_attempt_at timestamptz`.execute(db);
  await sql`ALTER TABLE pg_webhooks ADD COLUMN claim_token text`.execute(db);

  await db.schema
    .createTable("reconcile_checks")
    .addColumn("subject", "text", (c) => c.primaryKey())
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind IN ('PAYMENT','REFUND')`))
    .addColumn("checks", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("last_checked_at", "timestamptz", (c) => c.notNull())
    .addColumn("next_check_at", "timestamptz", (c) => c.notNull())
    .addColumn("last_result", "text")
    .addColumn("claimed_until", "timestamptz")
    .execute();

  // Per order, seq must follow commit order, or a dispatcher could send a later event whose
  // transaction committed first. Two transactions notifying the same order (two attempts of one
  // order settling at once, say) take turns on an order-wide lock, and seq is drawn under it.
  await sql`CREATE FUNCTION notifications_order_seq() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_advisory_xact_lock(hashtext('pgb-notifications'), hashtext(NEW.tenant || ':' || NEW.order_id::text));
              NEW.seq := nextval(pg_get_serial_sequence('notifications', 'seq'));
              RETURN NEW;
            END $$`.execute(db);
  await sql`CREATE TRIGGER notifications_order_seq BEFORE INSERT ON notifications
            FOR EACH ROW EXECUTE FUNCTION notifications_order_seq()`.execute(db);

  // Wakes every listening dispatcher when the outbox or the webhook store grows. NOTIFY is
  // delivered at commit, so a woken dispatcher always finds the row.
  await sql`CREATE FUNCTION pgb_wake_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('pgb_delivery', TG_TABLE_NAME); RETURN NULL; END $$`.execute(db);
  await sql`CREATE TRIGGER notifications_wake AFTER INSERT ON notifications
            FOR EACH STATEMENT EXECUTE FUNCTION pgb_wake_delivery()`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
