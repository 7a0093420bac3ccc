/**
 * Whether a tenant's notifyUrl looks down (migration 0006, notify_endpoints), shared by every PGB
 * process. Host-level failures (refused, time-out, 5xx, 408, 429) count up; `threshold` of them in a
 * row mark the endpoint down, and from then on one notification per probe interval is sent as a
 * probe. Any HTTP answer that is not host-level (2xx, or a 4xx about one body) marks it up again and
 * releases the notifications held back by the outage.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Database } from "./schema.ts";

type Executor = Kysely<Database>;

/** SQL condition: the tenant in `tenantColumn` has its endpoint marked down. */
export function endpointDown(tenantColumn: string) {
  return sql<boolean>`EXISTS (SELECT 1 FROM notify_endpoints h WHERE h.tenant = ${sql.ref(tenantColumn)} AND h.down_since IS NOT NULL)`;
}

/** Counts one host-level failure; answers whether the endpoint is (now) down. */
export async function recordEndpointFailure(db: Executor, tenant: string, threshold: number, probeIntervalMs: number): Promise<boolean> {
  const result = await sql<{ down: boolean }>`
    INSERT INTO notify_endpoints AS e (tenant, failures, down_since, next_probe_at)
    VALUES (${tenant}, 1, CASE WHEN 1 >= ${threshold} THEN now() END, CASE WHEN 1 >= ${threshold} THEN now() + ${probeIntervalMs} * interval '1 millisecond' END)
    ON CONFLICT (tenant) DO UPDATE SET
      failures = e.failures + 1,
      down_since = CASE WHEN e.down_since IS NULL AND e.failures + 1 >= ${threshold} THEN now() ELSE e.down_since END,
      next_probe_at = CASE WHEN e.down_since IS NULL AND e.failures + 1 >= ${threshold} THEN now() + ${probeIntervalMs} * interval '1 millisecond' ELSE e.next_probe_at END
    RETURNING e.down_since IS NOT NULL AS down`.execute(db);
  return result.rows[0]?.down === true;
}

/**
 * The endpoint answered: clears its failures. If it was down, releases every notification of the
 * tenant held back by host-level failures (their backoff ends now) and wakes every dispatcher;
 * answers how many were released. Only one of several concurrent callers sees it down.
 */
export async function recordEndpointAnswered(db: Executor, tenant: string): Promise<number> {
  const result = await sql<{ tenant: string; released: number }>`WITH ${clearAnsweredEndpoints(sql`SELECT ${tenant}::text`)}`.execute(db);
  return Number(result.rows[0]?.released ?? 0);
}

/**
 * SQL that ends a statement begun with `WITH` (after the caller's own CTEs, if any): clears the
 * endpoints of `tenants` (a subquery of tenant names) as recordEndpointAnswered says; the one
 * definition of it, used by that function and by recordDeliveredAttempts. An endpoint row is touched, and
 * locked, only if it has failures or is down; FOR UPDATE reads its latest state, so of concurrent
 * callers only one sees it down and releases. Answers a row (tenant, released) per endpoint that was
 * down, with how many notifications were released. Written so that even a plan built on empty tables
 * reaches each table by a key (recordDeliveredAttempts is prepared): tenants as `= ANY(ARRAY(...))`,
 * and the held notifications by tenant among the undelivered ones (status `<> 'DELIVERED'`), never
 * through the index of every PENDING notification (hence `status || ''`).
 */
export function clearAnsweredEndpoints(tenants: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    troubled AS (
      SELECT h.tenant, h.down_since FROM notify_endpoints h
      WHERE h.tenant = ANY(ARRAY(${tenants})) AND (h.failures > 0 OR h.down_since IS NOT NULL)
      ORDER BY h.tenant
      FOR UPDATE),
    cleared AS (
      UPDATE notify_endpoints e SET failures = 0, down_since = NULL, next_probe_at = NULL
      FROM troubled t WHERE e.tenant = ANY(ARRAY(SELECT tenant FROM troubled)) AND e.tenant = t.tenant
      RETURNING e.tenant, t.down_since IS NOT NULL AS was_down),
    released AS (
      UPDATE notifications r SET next_attempt_at = now(), outage_hold = false
      WHERE r.tenant = ANY(ARRAY(SELECT tenant FROM cleared WHERE was_down))
        AND r.status <> 'DELIVERED' AND r.status || '' = 'PENDING' AND r.outage_hold AND r.claim_token IS NULL AND r.next_attempt_at > now()
      RETURNING r.tenant)
    SELECT c.tenant, (SELECT count(x.tenant)::int FROM released x WHERE x.tenant = c.tenant) AS released, pg_notify('pgb_delivery', 'release')
    FROM cleared c WHERE c.was_down`;
}

/** Tenants whose endpoint is down and due a probe; each is claimed for one probe (next one an interval later). */
export async function claimProbes(db: Executor, limit: number, probeIntervalMs: number): Promise<string[]> {
  const result = await sql<{ tenant: string }>`
    UPDATE notify_endpoints e SET next_probe_at = now() + ${probeIntervalMs} * interval '1 millisecond'
    WHERE e.tenant IN (
      SELECT d.tenant FROM notify_endpoints d
      WHERE d.down_since IS NOT NULL AND d.next_probe_at <= now()
      ORDER BY d.next_probe_at LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING e.tenant`.execute(db);
  return result.rows.map((r) => r.tenant);
}

/** When the next probe of a down endpoint falls due (ms from now), if any endpoint is down. */
export async function msUntilNextProbe(db: Executor): Promise<number | undefined> {
  const result = await sql<{ ms: number | null }>`
    SELECT (extract(epoch FROM min(next_probe_at) - now()) * 1000)::float8 AS ms FROM notify_endpoints WHERE down_since IS NOT NULL`.execute(db);
  const ms = result.rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}
