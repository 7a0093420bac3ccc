/** Notification rows changed outside the dispatcher: an operator's replay (ops API, console, CLI). */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.ts";

/** Operator replay: a DEAD notification goes back to PENDING with a fresh attempt budget. */
export async function replayNotifications(db: Kysely<Database>, tenant: string, filter: { id: string } | { orderId: number }): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    let query = trx
      .updateTable("notifications")
      .set({ status: "PENDING", attempts: 0, next_attempt_at: sql<Date>`now()`, claim_token: null, last_error: null, replayed_at: sql<Date>`now()` })
      .where("tenant", "=", tenant)
      .where("status", "=", "DEAD");
    query = "id" in filter ? query.where("id", "=", filter.id) : query.where("order_id", "=", filter.orderId);
    const rows = await query.returning("id").execute();
    if (rows.length > 0) await sql`SELECT pg_notify('pgb_delivery', 'replay')`.execute(trx);
    return rows.map((r) => r.id);
  });
}
