import { sql, type Kysely } from "kysely";

/**
 * The operator console (issue 13): operator accounts, their server-side sessions, the append-only
 * audit log of what operators did, the alerts inbox, and one index per search path of the console's
 * search box (so a lookup on a million payments stays an index probe).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("operators")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("username", "text", (c) => c.notNull().unique())
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull().check(sql`role IN ('viewer','support','finance','admin')`))
    // NULL: every tenant; otherwise the DBTypes the operator may see and act on.
    .addColumn("tenants", "jsonb")
    .addColumn("disabled_at", "timestamptz")
    .addColumn("last_login_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Only signed-in sessions are stored (the login form needs none), keyed by a hash of the cookie's
  // session id so a copy of this table cannot be replayed as cookies.
  await db.schema
    .createTable("operator_sessions")
    .addColumn("id_hash", "text", (c) => c.primaryKey())
    .addColumn("operator_id", "bigint", (c) => c.notNull().references("operators.id"))
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at)`.execute(db);

  await db.schema
    .createTable("audit_log")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("at", "timestamptz", (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn("operator_id", "bigint")
    .addColumn("operator", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("tenant", "text")
    .addColumn("payment_id", "text")
    .addColumn("target", "text")
    .addColumn("before", "jsonb")
    .addColumn("after", "jsonb")
    .addColumn("detail", "jsonb", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX audit_log_by_payment ON audit_log (payment_id, id) WHERE payment_id IS NOT NULL`.execute(db);
  await sql`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`.execute(db);
  await sql`CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`.execute(db);

  await db.schema
    .createTable("alerts")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("type", "text", (c) => c.notNull())
    // What the alert is about (a payment, a notification, a webhook): repeats of an open alert on the
    // same subject count up instead of piling up rows.
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("tenant", "text")
    .addColumn("payment_id", "text")
    .addColumn("message", "text", (c) => c.notNull())
    .addColumn("details", "jsonb", (c) => c.notNull())
    .addColumn("occurrences", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("raised_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_seen_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("acknowledged_at", "timestamptz")
    .addColumn("acknowledged_by", "text")
    .addColumn("ack_note", "text")
    .execute();
  await sql`CREATE UNIQUE INDEX alerts_one_open ON alerts (type, subject) WHERE acknowledged_at IS NULL`.execute(db);
  await sql`CREATE INDEX alerts_by_time ON alerts (raised_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX alerts_by_payment ON alerts (payment_id) WHERE payment_id IS NOT NULL`.execute(db);

  // Search paths. OrderId and PG transaction id have indexes led by tenant / pg already; the console
  // searches across tenants and PGs, so each key gets its own.
  await sql`CREATE INDEX payments_by_order_id ON payments (order_id)`.execute(db);
  await sql`CREATE INDEX payments_by_joiner ON payments (joiner_id)`.execute(db);
  await sql`CREATE INDEX payments_by_pg_tx_id ON payments (pg_transaction_id) WHERE pg_transaction_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX payments_by_virtual_account ON payments ((pg_details->'virtualAccount'->>'accountNumber'))
            WHERE pg_details->'virtualAccount' IS NOT NULL`.execute(db);
  await sql`CREATE INDEX payments_recent ON payments (created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX payments_recent_by_tenant ON payments (tenant, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX money_movements_by_pg_reference ON money_movements (pg_reference) WHERE pg_reference IS NOT NULL`.execute(db);
  // A payment's page lists the webhooks that were about it.
  await sql`CREATE INDEX pg_webhooks_by_payment_reference ON pg_webhooks ((action->>'paymentReference'))`.execute(db);
  await sql`CREATE INDEX pg_webhooks_by_pg_transaction ON pg_webhooks (pg, (action->>'pgTransactionId'))`.execute(db);
  // The overview's windows.
  await sql`CREATE INDEX notifications_by_created ON notifications (created_at)`.execute(db);
  await sql`CREATE INDEX pg_webhooks_by_received ON pg_webhooks (received_at)`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
