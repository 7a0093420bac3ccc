import { sql, type Kysely } from "kysely";

/** The core tables. Guards that keep money right live here as constraints, not only in code. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("payments")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant", "text", (c) => c.notNull())
    .addColumn("order_id", "integer", (c) => c.notNull())
    .addColumn("joiner_id", "integer", (c) => c.notNull())
    .addColumn("pay_type", "text", (c) => c.notNull())
    .addColumn("nation_code", "text", (c) => c.notNull())
    .addColumn("currency", "text", (c) => c.notNull())
    .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
    .addColumn("description", "text", (c) => c.notNull())
    .addColumn("host_redirect_url", "text", (c) => c.notNull())
    .addColumn("request_fingerprint", "text", (c) => c.notNull())
    .addColumn("pg", "text", (c) => c.notNull())
    .addColumn("pg_transaction_id", "text")
    .addColumn("checkout_url", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("pg_details", "jsonb")
    .addColumn("failure_code", "text")
    .addColumn("failure_message", "text")
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("paid_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // An order has at most one live checkout and at most one captured payment (README, "Payment state").
  await sql`CREATE UNIQUE INDEX payments_one_live ON payments (tenant, order_id)
            WHERE status IN ('READY','WAITING_FOR_DEPOSIT')`.execute(db);
  await sql`CREATE UNIQUE INDEX payments_one_captured ON payments (tenant, order_id)
            WHERE status IN ('PAID','PARTIALLY_CANCELLED','CANCELLED')`.execute(db);
  await sql`CREATE INDEX payments_by_order ON payments (tenant, order_id, created_at)`.execute(db);
  await sql`CREATE UNIQUE INDEX payments_by_pg_transaction ON payments (pg, pg_transaction_id)
            WHERE pg_transaction_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX payments_by_status ON payments (status, updated_at)`.execute(db);

  await db.schema
    .createTable("payment_events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("payment_id", "text", (c) => c.notNull().references("payments.id"))
    .addColumn("from_status", "text")
    .addColumn("to_status", "text", (c) => c.notNull())
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("detail", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await sql`CREATE INDEX payment_events_by_payment ON payment_events (payment_id, id)`.execute(db);
  // Append-only: history is evidence, so the database refuses to rewrite it.
  await sql`CREATE FUNCTION payment_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'payment_events is append-only'; END $$`.execute(db);
  await sql`CREATE TRIGGER payment_events_no_rewrite BEFORE UPDATE OR DELETE ON payment_events
            FOR EACH ROW EXECUTE FUNCTION payment_events_append_only()`.execute(db);

  await db.schema
    .createTable("money_movements")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("payment_id", "text", (c) => c.notNull().references("payments.id"))
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind IN ('CAPTURE','REFUND')`))
    .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
    .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('PENDING','SUCCEEDED','FAILED','UNKNOWN')`))
    .addColumn("balance_before", "bigint")
    .addColumn("balance_after", "bigint", (c) => c.check(sql`balance_after >= 0`))
    .addColumn("idempotency_key", "text")
    .addColumn("request_fingerprint", "text")
    .addColumn("pg_reference", "text")
    .addColumn("failure_code", "text")
    .addColumn("failure_message", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE UNIQUE INDEX money_movements_one_capture ON money_movements (payment_id) WHERE kind = 'CAPTURE'`.execute(db);
  await sql`CREATE UNIQUE INDEX money_movements_idempotency ON money_movements (payment_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL`.execute(db);
  await sql`CREATE INDEX money_movements_by_payment ON money_movements (payment_id, created_at)`.execute(db);

  await db.schema
    .createTable("notifications")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("seq", "bigserial", (c) => c.notNull().unique())
    .addColumn("tenant", "text", (c) => c.notNull())
    .addColumn("payment_id", "text", (c) => c.notNull().references("payments.id"))
    .addColumn("order_id", "integer", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("payload", "jsonb", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('PENDING','DELIVERED','DEAD')`))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "timestamptz", (c) => c.notNull())
    .addColumn("last_error", "text")
    .addColumn("delivered_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'PENDING'`.execute(db);
  await sql`CREATE INDEX notifications_by_order ON notifications (tenant, order_id, seq)`.execute(db);

  await db.schema
    .createTable("pg_webhooks")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("pg", "text", (c) => c.notNull())
    .addColumn("tenant", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('RECEIVED','PROCESSED','REJECTED','FAILED')`))
    .addColumn("headers", "jsonb", (c) => c.notNull())
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("error", "text")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("received_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("processed_at", "timestamptz")
    .execute();
  await sql`CREATE UNIQUE INDEX pg_webhooks_dedup ON pg_webhooks (pg, tenant, event_id)`.execute(db);
  await sql`CREATE INDEX pg_webhooks_pending ON pg_webhooks (received_at) WHERE status IN ('RECEIVED','FAILED')`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
