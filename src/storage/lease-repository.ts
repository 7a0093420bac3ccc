/**
 * Process leases (migration 0006): a PGB process renews its row in process_leases on a heartbeat;
 * work it holds carries its token. Work whose token has no live lease belongs to nobody — its process
 * died or stopped — and the first process to claim it here takes it over. A singleton job (the
 * reconciler's timed pass) holds an advisory lock instead.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type pg from "pg";
import type { Database } from "./schema.ts";
import { brand, type PaymentId, type RefundId } from "../core/ids.ts";

type Executor = Kysely<Database>;

/** True when `tokenColumn` (a qualified column reference) names no live process lease. */
export function leaseIsDead(tokenColumn: string): RawBuilder<boolean> {
  return sql<boolean>`NOT EXISTS (SELECT 1 FROM process_leases l WHERE l.token = ${sql.ref(tokenColumn)} AND l.expires_at > now())`;
}

/**
 * Runs `run` holding the session advisory lock `key` on one connection of `pool`, unless another
 * session (another PGB process) holds it: then answers undefined without running it.
 */
export async function runHoldingAdvisoryLock<T>(pool: pg.Pool, key: bigint, run: () => Promise<T>): Promise<T | undefined> {
  const client = await pool.connect();
  try {
    const locked = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [key.toString()]);
    if (locked.rows[0]?.locked !== true) return undefined;
    try {
      return await run();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [key.toString()]);
    }
  } finally {
    client.release();
  }
}

/** Creates or renews this process's lease for another `leaseMs`. */
export async function renewLease(db: Executor, token: string, leaseMs: number): Promise<void> {
  await sql`INSERT INTO process_leases (token, pid, expires_at) VALUES (${token}, ${process.pid}, now() + ${leaseMs} * interval '1 millisecond')
            ON CONFLICT (token) DO UPDATE SET expires_at = EXCLUDED.expires_at`.execute(db);
}

/** Gives up the lease at once, so anything still carrying the token is taken over without waiting. */
export async function dropLease(db: Executor, token: string): Promise<void> {
  await sql`DELETE FROM process_leases WHERE token = ${token} OR expires_at < now() - interval '1 hour'`.execute(db);
}

/**
 * Refunds reserved by a process that is gone before the PG answered (PENDING, no PG reference):
 * claimed for `token`, oldest first. Taking one over means asking the PG, and sending it (same
 * idempotency key) if the PG never got it.
 */
export async function claimOrphanedRefunds(db: Executor, token: string, limit: number): Promise<RefundId[]> {
  const result = await sql<{ id: string }>`
    UPDATE money_movements m SET lease_token = ${token}
    WHERE m.id IN (
      SELECT o.id FROM money_movements o
      WHERE o.kind = 'REFUND' AND o.status = 'PENDING' AND o.pg_reference IS NULL AND ${leaseIsDead("o.lease_token")}
      ORDER BY o.updated_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING m.id`.execute(db);
  return result.rows.map((r) => brand<RefundId>(r.id));
}

/** Claims one refund for `token` if nobody alive holds it (a host's retry taking over its lost cancel). */
export async function claimRefundIfOrphaned(db: Executor, refundId: string, token: string): Promise<boolean> {
  const result = await sql`
    UPDATE money_movements m SET lease_token = ${token}
    WHERE m.id = ${refundId} AND m.status = 'PENDING' AND m.pg_reference IS NULL AND ${leaseIsDead("m.lease_token")}`.execute(db);
  return Number(result.numAffectedRows ?? 0n) === 1;
}

/** Hands a claimed refund back (the PG could not be asked): the next pass of any process retries it. */
export async function releaseRefund(db: Executor, refundId: string, token: string): Promise<void> {
  await sql`UPDATE money_movements SET lease_token = NULL WHERE id = ${refundId} AND lease_token = ${token}`.execute(db);
}

/** Records that a superseded checkout must still be closed at the PG (inside the superseding transaction). */
export async function recordCheckoutClose(db: Executor, paymentId: string, leaseToken: string | null): Promise<void> {
  await db
    .insertInto("checkout_closes")
    .values({ payment_id: paymentId, lease_token: leaseToken })
    .onConflict((oc) => oc.column("payment_id").doUpdateSet({ lease_token: leaseToken }))
    .execute();
}

/** The close failed here: any process's take-over worker retries it now. */
export async function releaseCheckoutClose(db: Executor, paymentId: string, error: string): Promise<void> {
  await db
    .updateTable("checkout_closes")
    .set({ lease_token: null, last_error: error.slice(0, 500), next_attempt_at: sql<Date>`now()` })
    .where("payment_id", "=", paymentId)
    .execute();
}

/** Due checkout closes nobody alive is working on, claimed for `token`. */
export async function claimCheckoutCloses(db: Executor, token: string, limit: number): Promise<Array<{ paymentId: PaymentId; attempts: number }>> {
  const result = await sql<{ payment_id: string; attempts: number }>`
    UPDATE checkout_closes c SET lease_token = ${token}, attempts = c.attempts + 1
    WHERE c.payment_id IN (
      SELECT o.payment_id FROM checkout_closes o
      WHERE o.next_attempt_at <= now() AND ${leaseIsDead("o.lease_token")}
      ORDER BY o.next_attempt_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING c.payment_id, c.attempts`.execute(db);
  return result.rows.map((r) => ({ paymentId: brand<PaymentId>(r.payment_id), attempts: Number(r.attempts) }));
}

export async function finishCheckoutClose(db: Executor, paymentId: string): Promise<void> {
  await db.deleteFrom("checkout_closes").where("payment_id", "=", paymentId).execute();
}

export async function retryCheckoutCloseLater(db: Executor, paymentId: string, token: string, delayMs: number, error: string): Promise<void> {
  await sql`UPDATE checkout_closes SET lease_token = NULL, last_error = ${error.slice(0, 500)},
              next_attempt_at = now() + ${delayMs} * interval '1 millisecond'
            WHERE payment_id = ${paymentId} AND lease_token = ${token}`.execute(db);
}
