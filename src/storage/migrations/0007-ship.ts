import { sql, type Kysely } from "kysely";

/**
 * Indexes for `pgb export`: its keyset batches walk payments and refunds by (created_at, id), so
 * each batch is an index range instead of a scan of the table. IF NOT EXISTS lets an operator with
 * a large table build them beforehand with CREATE INDEX CONCURRENTLY (docs/operations.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS payments_by_created ON payments (created_at, id)`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS money_movements_by_created ON money_movements (created_at, id)`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
