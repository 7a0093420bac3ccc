/**
 * reconcile_checks (migrations 0002, 0008): one row per subject the reconciler asks the PG about,
 * with when to look again. A claim carries the claiming process's lease token (lease-repository.ts):
 * it lasts while that process lives, at most `claimMs`, so a dead process's claim is taken over
 * within the lease time.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Database } from "./schema.ts";
import { leaseIsDead } from "./lease-repository.ts";
import { brand, type PaymentId, type RefundId } from "../core/ids.ts";

type Executor = Kysely<Database>;

/** Claims `subject` for `token` unless a live process holds it; answers the checks made so far, or undefined. */
export async function claimCheck(
  db: Executor,
  subject: string,
  kind: "PAYMENT" | "REFUND",
  token: string | null,
  claimMs: number,
): Promise<number | undefined> {
  const claim = await sql<{ checks: number }>`
    INSERT INTO reconcile_checks AS r (subject, kind, checks, last_checked_at, next_check_at, claimed_until, claim_token)
    VALUES (${subject}, ${kind}, 0, now(), now(), now() + ${claimMs} * interval '1 millisecond', ${token})
    ON CONFLICT (subject) DO UPDATE SET claimed_until = EXCLUDED.claimed_until, claim_token = EXCLUDED.claim_token
      WHERE r.claimed_until IS NULL OR r.claimed_until < now() OR (r.claim_token IS NOT NULL AND ${leaseIsDead("r.claim_token")})
    RETURNING checks`.execute(db);
  const row = claim.rows[0];
  return row === undefined ? undefined : Number(row.checks);
}

/** Records a check's result and releases the claim; `next` undefined: settled, never selected again. */
export async function recordCheck(db: Executor, subject: string, checks: number, summary: string, next: Date | undefined): Promise<void> {
  await sql`UPDATE reconcile_checks SET checks = ${checks}, last_checked_at = now(),
              next_check_at = ${next === undefined ? sql`'infinity'` : sql`${next}`}, last_result = ${summary},
              claimed_until = NULL, claim_token = NULL
            WHERE subject = ${subject}`.execute(db);
}

/** SQL condition: the subject joined as `c` has never been checked, or its next check is due. */
const CHECK_DUE = sql<boolean>`(c.subject IS NULL OR c.next_check_at <= now())`;

/** SQL: the moment `ms` milliseconds ago. */
function msAgo(ms: number) {
  return sql<Date>`now() - ${ms} * interval '1 millisecond'`;
}

async function idsOf<Id extends PaymentId | RefundId>(db: Executor, query: RawBuilder<{ id: string }>): Promise<Id[]> {
  const result = await query.execute(db);
  return result.rows.map((r) => brand<Id>(r.id));
}

/** Refunds left UNKNOWN (a refund call that timed out) due for a look at the PG, most overdue first. */
export async function dueUnknownRefunds(db: Executor, limit: number): Promise<RefundId[]> {
  return idsOf<RefundId>(
    db,
    sql<{ id: string }>`
    SELECT m.id FROM money_movements m LEFT JOIN reconcile_checks c ON c.subject = m.id
    WHERE m.kind = 'REFUND' AND m.status = 'UNKNOWN'
      AND (c.subject IS NULL OR (c.next_check_at <= now() AND (c.claimed_until IS NULL OR c.claimed_until < now() OR ${leaseIsDead("c.claim_token")})))
    ORDER BY coalesce(c.next_check_at, m.updated_at)
    LIMIT ${limit}`,
  );
}

/** Payments left READY / WAITING_FOR_DEPOSIT for `afterMs` and due a check, most overdue first. */
export async function dueStalePayments(db: Executor, afterMs: number, limit: number): Promise<PaymentId[]> {
  return idsOf<PaymentId>(
    db,
    sql<{ id: string }>`
    SELECT p.id FROM payments p LEFT JOIN reconcile_checks c ON c.subject = p.id
    WHERE p.status IN ('READY','WAITING_FOR_DEPOSIT') AND p.updated_at <= ${msAgo(afterMs)} AND ${CHECK_DUE}
    ORDER BY coalesce(c.next_check_at, p.updated_at)
    LIMIT ${limit}`,
  );
}

/** Refunds left UNKNOWN, or PENDING for `afterMs`, and due a check, most overdue first. */
export async function dueUnsettledRefunds(db: Executor, afterMs: number, limit: number): Promise<RefundId[]> {
  return idsOf<RefundId>(
    db,
    sql<{ id: string }>`
    SELECT m.id FROM money_movements m LEFT JOIN reconcile_checks c ON c.subject = m.id
    WHERE m.kind = 'REFUND' AND (m.status = 'UNKNOWN' OR (m.status = 'PENDING' AND m.updated_at <= ${msAgo(afterMs)})) AND ${CHECK_DUE}
    ORDER BY coalesce(c.next_check_at, m.updated_at)
    LIMIT ${limit}`,
  );
}

/**
 * Checkouts replaced by a newer PayStart `afterMs` ago that may still be payable at the PG (not past
 * their expiry) and are due a check, oldest first.
 */
export async function dueSupersededCheckouts(db: Executor, afterMs: number, limit: number): Promise<PaymentId[]> {
  return idsOf<PaymentId>(
    db,
    sql<{ id: string }>`
    SELECT p.id FROM payments p LEFT JOIN reconcile_checks c ON c.subject = p.id
    WHERE p.status = 'SUPERSEDED' AND p.pg_transaction_id IS NOT NULL AND p.expires_at > now() AND p.updated_at <= ${msAgo(afterMs)} AND ${CHECK_DUE}
    ORDER BY p.updated_at
    LIMIT ${limit}`,
  );
}
