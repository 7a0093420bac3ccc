/**
 * The console's reads: the search box, a payment's whole story, the overview's figures. Each search
 * key is an exact match served by its own index (migration 0005), the hits are unioned, and the page
 * is a keyset page over (created_at, id), so neither depth nor table size makes a page slow.
 */
import { sql, type SelectQueryBuilder } from "kysely";
import type { ConsoleDb } from "./operator-repository.ts";
import type { Database } from "./schema.ts";

export interface PaymentSearch {
  q?: string | undefined;
  /** The operator's tenant limit (null: all). */
  allowedTenants: string[] | null;
  tenant?: string | undefined;
  pg?: string | undefined;
  status?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Keyset cursor: rows strictly older than this (created_at, id). */
  after?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

export interface PaymentListRow {
  id: string;
  tenant: string;
  order_id: number;
  joiner_id: number;
  pg: string;
  pay_type: string;
  currency: string;
  amount: string | number;
  status: string;
  pg_transaction_id: string | null;
  created_at: Date;
}

const INT32_MAX = 2_147_483_647;

export async function searchPayments(
  db: ConsoleDb,
  search: PaymentSearch,
): Promise<{ rows: PaymentListRow[]; next: { createdAt: Date; id: string } | undefined }> {
  const rows = (await searchQuery(db, search).execute()) as PaymentListRow[];
  const more = rows.length > search.limit;
  const page = more ? rows.slice(0, search.limit) : rows;
  const last = page[page.length - 1];
  return { rows: page, next: more && last ? { createdAt: new Date(last.created_at), id: last.id } : undefined };
}

/** The search as a query (one row more than a page, to know whether another page follows); the benchmark explains it. */
export function searchQuery(db: ConsoleDb, search: PaymentSearch) {
  let query = db
    .selectFrom("payments as p")
    .select([
      "p.id",
      "p.tenant",
      "p.order_id",
      "p.joiner_id",
      "p.pg",
      "p.pay_type",
      "p.currency",
      "p.amount",
      "p.status",
      "p.pg_transaction_id",
      "p.created_at",
    ]);
  const q = search.q?.trim();
  if (q) {
    const asInt = /^\d{1,10}$/.test(q) && Number(q) <= INT32_MAX ? Number(q) : undefined;
    let hits: SelectQueryBuilder<Database, "payments" | "money_movements", { id: string }> = db
      .selectFrom("payments")
      .select("id")
      .where("id", "=", q)
      .union(db.selectFrom("payments").select("id").where("pg_transaction_id", "=", q))
      .union(db.selectFrom("money_movements").select("payment_id as id").where("id", "=", q))
      .union(db.selectFrom("money_movements").select("payment_id as id").where("pg_reference", "=", q))
      .union(
        db
          .selectFrom("payments")
          .select("id")
          .where(sql`pg_details->'virtualAccount'`, "is not", null)
          .where(sql`pg_details->'virtualAccount'->>'accountNumber'`, "=", q),
      ) as never;
    if (asInt !== undefined) {
      hits = hits
        .union(db.selectFrom("payments").select("id").where("order_id", "=", asInt))
        .union(db.selectFrom("payments").select("id").where("joiner_id", "=", asInt)) as never;
    }
    query = query.where("p.id", "in", hits as never);
  }
  if (search.allowedTenants) query = query.where("p.tenant", "in", search.allowedTenants.length ? search.allowedTenants : [""]);
  if (search.tenant) query = query.where("p.tenant", "=", search.tenant);
  if (search.pg) query = query.where("p.pg", "=", search.pg);
  if (search.status) query = query.where("p.status", "=", search.status);
  if (search.from) query = query.where("p.created_at", ">=", search.from);
  if (search.to) query = query.where("p.created_at", "<", search.to);
  if (search.after) query = query.where(sql`(p.created_at, p.id)`, "<", sql`(${search.after.createdAt}::timestamptz, ${search.after.id})`);
  return query
    .orderBy("p.created_at", "desc")
    .orderBy("p.id", "desc")
    .limit(search.limit + 1);
}

/** Everything the payment page shows: the order's attempts and every record about them. */
export async function paymentStory(db: ConsoleDb, paymentId: string) {
  const payment = await db.selectFrom("payments").selectAll().where("id", "=", paymentId).executeTakeFirst();
  if (payment === undefined) return undefined;
  const attempts = await db
    .selectFrom("payments")
    .selectAll()
    .where("tenant", "=", payment.tenant)
    .where("order_id", "=", payment.order_id)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  const ids = attempts.map((a) => a.id);
  const txIds = attempts.map((a) => a.pg_transaction_id).filter((t): t is string => t !== null);
  const [events, movements, notifications, webhooks, audit, alerts] = await Promise.all([
    db.selectFrom("payment_events").selectAll().where("payment_id", "in", ids).orderBy("id").execute(),
    db.selectFrom("money_movements").selectAll().where("payment_id", "in", ids).orderBy("created_at").execute(),
    db.selectFrom("notifications").selectAll().where("tenant", "=", payment.tenant).where("order_id", "=", payment.order_id).orderBy("seq").execute(),
    db
      .selectFrom("pg_webhooks")
      .select(["id", "pg", "event_id", "status", "error", "attempts", "received_at", "processed_at", "action"])
      .where((eb) =>
        eb.or([
          eb(sql`action->>'paymentReference'`, "in", ids),
          ...(txIds.length ? [eb.and([eb("pg", "=", payment.pg), eb(sql`action->>'pgTransactionId'`, "in", txIds)])] : []),
        ]),
      )
      .orderBy("received_at")
      .execute(),
    db.selectFrom("audit_log").selectAll().where("payment_id", "in", ids).orderBy("id").execute(),
    db.selectFrom("alerts").selectAll().where("payment_id", "in", ids).orderBy("raised_at").execute(),
  ]);
  const deliveries = notifications.length
    ? await db
        .selectFrom("notification_attempts")
        .selectAll()
        .where(
          "notification_id",
          "in",
          notifications.map((n) => n.id),
        )
        .orderBy("id")
        .execute()
    : [];
  return { payment, attempts, events, movements, notifications, deliveries, webhooks, audit, alerts };
}

export type PaymentStory = NonNullable<Awaited<ReturnType<typeof paymentStory>>>;

export interface OverviewWindow {
  from: Date;
  to: Date;
  allowedTenants: string[] | null;
}

/**
 * The overview's figures. Attempts replaced by a newer PayStart (SUPERSEDED) are not counted as
 * started: the order's newer attempt is. Hours are UTC.
 */
export async function overview(db: ConsoleDb, w: OverviewWindow) {
  const tenants = w.allowedTenants === null ? sql`TRUE` : sql`tenant IN (${sql.join(w.allowedTenants.length ? w.allowedTenants : [""])})`;
  const pTenants = w.allowedTenants === null ? sql`TRUE` : sql`p.tenant IN (${sql.join(w.allowedTenants.length ? w.allowedTenants : [""])})`;
  const hourly = await sql<{ hour: string; pg: string; started: string; paid: string; failed: string }>`
    SELECT to_char(date_trunc('hour', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24":00Z"') AS hour, pg,
           count(*)::text AS started,
           count(*) FILTER (WHERE paid_at IS NOT NULL)::text AS paid,
           count(*) FILTER (WHERE status = 'FAILED')::text AS failed
    FROM payments
    WHERE created_at >= ${w.from} AND created_at < ${w.to} AND status <> 'SUPERSEDED' AND ${tenants}
    GROUP BY 1, 2 ORDER BY 1, 2`.execute(db);
  const byPg = new Map<string, { started: number; paid: number; failed: number }>();
  for (const r of hourly.rows) {
    const t = byPg.get(r.pg) ?? { started: 0, paid: 0, failed: 0 };
    t.started += Number(r.started);
    t.paid += Number(r.paid);
    t.failed += Number(r.failed);
    byPg.set(r.pg, t);
  }
  const refunds = await sql<{ currency: string; n: string; total: string }>`
    SELECT p.currency, count(*)::text AS n, sum(m.amount)::text AS total
    FROM money_movements m JOIN payments p ON p.id = m.payment_id
    WHERE m.kind = 'REFUND' AND m.status = 'SUCCEEDED' AND m.created_at >= ${w.from} AND m.created_at < ${w.to} AND ${pTenants}
    GROUP BY 1 ORDER BY 1`.execute(db);
  const delivery = await sql<{ delivered: string; avg_ms: number | null; p95_ms: number | null; dead: string }>`
    SELECT count(*) FILTER (WHERE status = 'DELIVERED')::text AS delivered,
           (avg(extract(epoch FROM delivered_at - created_at)) FILTER (WHERE status = 'DELIVERED') * 1000)::float8 AS avg_ms,
           (percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) FILTER (WHERE status = 'DELIVERED') * 1000)::float8 AS p95_ms,
           count(*) FILTER (WHERE status = 'DEAD')::text AS dead
    FROM notifications WHERE created_at >= ${w.from} AND created_at < ${w.to} AND ${tenants}`.execute(db);
  const backlog = await sql<{ pending: string; retrying: string; dead: string }>`
    SELECT count(*) FILTER (WHERE status = 'PENDING' AND attempts = 0)::text AS pending,
           count(*) FILTER (WHERE status = 'PENDING' AND attempts > 0)::text AS retrying,
           count(*) FILTER (WHERE status = 'DEAD')::text AS dead
    FROM notifications WHERE status <> 'DELIVERED' AND ${tenants}`.execute(db);
  const webhooks = await sql<{ processed: string; avg_ms: number | null; max_ms: number | null; unprocessed: string; oldest_s: number | null }>`
    SELECT count(*) FILTER (WHERE status = 'PROCESSED' AND processed_at IS NOT NULL AND received_at >= ${w.from} AND received_at < ${w.to})::text AS processed,
           (avg(extract(epoch FROM processed_at - received_at)) FILTER (WHERE processed_at IS NOT NULL AND received_at >= ${w.from} AND received_at < ${w.to}) * 1000)::float8 AS avg_ms,
           (max(extract(epoch FROM processed_at - received_at)) FILTER (WHERE processed_at IS NOT NULL AND received_at >= ${w.from} AND received_at < ${w.to}) * 1000)::float8 AS max_ms,
           count(*) FILTER (WHERE status IN ('RECEIVED','FAILED'))::text AS unprocessed,
           extract(epoch FROM now() - min(received_at) FILTER (WHERE status IN ('RECEIVED','FAILED')))::float8 AS oldest_s
    FROM pg_webhooks WHERE ${tenants} AND (received_at >= ${w.from} OR status IN ('RECEIVED','FAILED'))`.execute(db);
  const d = delivery.rows[0]!;
  const b = backlog.rows[0]!;
  const wh = webhooks.rows[0]!;
  return {
    hourly: hourly.rows.map((r) => ({ hour: r.hour, pg: r.pg, started: Number(r.started), paid: Number(r.paid), failed: Number(r.failed) })),
    perPg: [...byPg.entries()].sort(([a], [b2]) => a.localeCompare(b2)).map(([pg, t]) => ({ pg, ...t, conversion: t.started === 0 ? 0 : t.paid / t.started })),
    refunds: refunds.rows.map((r) => ({ currency: r.currency, count: Number(r.n), totalMinor: BigInt(r.total) })),
    delivery: {
      delivered: Number(d.delivered),
      avgMs: d.avg_ms === null ? null : Number(d.avg_ms),
      p95Ms: d.p95_ms === null ? null : Number(d.p95_ms),
      dead: Number(d.dead),
    },
    backlog: { pending: Number(b.pending), retrying: Number(b.retrying), dead: Number(b.dead) },
    webhooks: {
      processed: Number(wh.processed),
      avgLagMs: wh.avg_ms === null ? null : Number(wh.avg_ms),
      maxLagMs: wh.max_ms === null ? null : Number(wh.max_ms),
      unprocessed: Number(wh.unprocessed),
      oldestUnprocessedSeconds: wh.oldest_s === null ? 0 : Number(wh.oldest_s),
    },
  };
}

export type Overview = Awaited<ReturnType<typeof overview>>;

/** Marks an open checkout due now, with its history row, so the reconciler's next check expires it. */
export async function dueNow(db: ConsoleDb, paymentId: string, operator: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("payments")
      .set({ expires_at: sql`now()`, updated_at: sql`now()` })
      .where("id", "=", paymentId)
      .where("status", "in", ["READY", "WAITING_FOR_DEPOSIT"])
      .returning(["status"])
      .executeTakeFirst();
    if (row === undefined) return false;
    await trx
      .insertInto("payment_events")
      .values({
        payment_id: paymentId,
        from_status: row.status,
        to_status: row.status,
        event: "EXPIRY_REQUESTED",
        source: "OPERATOR",
        detail: JSON.stringify({ operator }),
      })
      .execute();
    return true;
  });
}
