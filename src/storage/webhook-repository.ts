/**
 * All SQL of the PG webhooks PGB stores: what arrived (whole when verified, an excerpt and hash
 * otherwise), deduplicated by the PG's event id, and what acting on it came to. The webhook retrier
 * and the retention worker read the same table.
 */
import { sql } from "kysely";
import type { Executor } from "./payment-repository.ts";

export interface StoredBody {
  body: string;
  body_sha256: string;
  body_bytes: number;
}

/** A webhook refused at the door (bad signature, say): kept for an operator, never acted on. */
export async function insertRejectedWebhook(db: Executor, w: { pg: string; tenant: string; eventId: string; headers: string; kept: StoredBody; reason: string }): Promise<void> {
  await db
    .insertInto("pg_webhooks")
    .values({ pg: w.pg, tenant: w.tenant, event_id: w.eventId, status: "REJECTED", headers: w.headers, ...w.kept, error: w.reason })
    .execute();
}

/**
 * Stores an accepted webhook once per (pg, tenant, event id). Answers its id, or undefined when the
 * PG sent this event before. `claimToken`: the lease of the process that will act on it.
 */
export async function insertWebhook(
  db: Executor,
  w: { pg: string; tenant: string; eventId: string; status: "RECEIVED" | "PROCESSED"; headers: string; kept: StoredBody; error: string | null; action: string; claimToken: string | null },
): Promise<string | undefined> {
  const stored = await db
    .insertInto("pg_webhooks")
    .values({ pg: w.pg, tenant: w.tenant, event_id: w.eventId, status: w.status, headers: w.headers, ...w.kept, error: w.error, action: w.action, claim_token: w.claimToken })
    .onConflict((oc) => oc.columns(["pg", "tenant", "event_id"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  return stored === undefined ? undefined : String(stored.id);
}

export async function findStoredWebhook(db: Executor, id: string) {
  return db.selectFrom("pg_webhooks").select(["id", "pg", "tenant", "event_id", "action"]).where("id", "=", id).executeTakeFirst();
}

/** What acting on it came to; one more attempt, and the claim released. */
export async function markWebhook(db: Executor, id: string, status: "PROCESSED" | "FAILED", error: string | null): Promise<void> {
  await db
    .updateTable("pg_webhooks")
    .set({ status, error, attempts: sql`attempts + 1`, processed_at: status === "PROCESSED" ? sql<Date>`now()` : null, claim_token: null })
    .where("id", "=", id)
    .execute();
}
