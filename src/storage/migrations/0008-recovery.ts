import { sql, type Kysely } from "kysely";

/**
 * Reconciler claims under the process lease (issue 15): a reconcile_checks claim carries the
 * claiming process's lease token, so a dead process's claim is taken over once its lease runs out
 * instead of after the claim's fixed length. The partial index finds refunds left UNKNOWN (a refund
 * call that timed out), which are now looked up within seconds.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE reconcile_checks ADD COLUMN claim_token text`.execute(db);
  await sql`CREATE INDEX money_movements_unknown_refunds ON money_movements (updated_at) WHERE kind = 'REFUND' AND status = 'UNKNOWN'`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error("PGB's migrations move forward only");
}
