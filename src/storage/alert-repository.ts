/**
 * The alerts inbox (issue 13): every alert PGB raises is a row. An alert still open on the same
 * subject counts up (occurrences, last_seen_at) instead of adding a row per repeat, so a reconciler
 * that meets the same late payment every pass leaves one row.
 */
import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.ts";

export type AlertExecutor = Kysely<Database> | Transaction<Database>;

export interface NewAlert {
  type: string;
  subject: string;
  tenant?: string | undefined;
  paymentId?: string | undefined;
  message: string;
  details: Record<string, unknown>;
}

export async function insertAlert(executor: AlertExecutor, alert: NewAlert): Promise<void> {
  const db = executor;
  const tenant = alert.tenant ?? (alert.paymentId !== undefined ? sql<string>`(SELECT tenant FROM payments WHERE id = ${alert.paymentId})` : null);
  await db
    .insertInto("alerts")
    .values({
      type: alert.type,
      subject: alert.subject,
      tenant,
      payment_id: alert.paymentId ?? null,
      message: alert.message,
      details: JSON.stringify(alert.details),
    })
    .onConflict((oc) =>
      oc
        .columns(["type", "subject"])
        .where("acknowledged_at", "is", null)
        .doUpdateSet({ occurrences: sql`alerts.occurrences + 1`, last_seen_at: sql`now()`, details: sql`excluded.details` }),
    )
    .execute();
}

export interface AlertFilter {
  open?: boolean;
  type?: string;
  tenants?: readonly string[] | null;
  limit: number;
  offset: number;
}

export async function listAlerts(db: Kysely<Database>, filter: AlertFilter) {
  let query = db.selectFrom("alerts").selectAll();
  if (filter.open === true) query = query.where("acknowledged_at", "is", null);
  if (filter.open === false) query = query.where("acknowledged_at", "is not", null);
  if (filter.type) query = query.where("type", "=", filter.type);
  if (filter.tenants) query = query.where((eb) => eb.or([eb("tenant", "in", filter.tenants!.length ? [...filter.tenants!] : [""]), eb("tenant", "is", null)]));
  return query.orderBy("raised_at", "desc").orderBy("id", "desc").limit(filter.limit).offset(filter.offset).execute();
}

export async function openAlertCount(db: Kysely<Database>, tenants: readonly string[] | null): Promise<number> {
  let query = db
    .selectFrom("alerts")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("acknowledged_at", "is", null);
  if (tenants) query = query.where((eb) => eb.or([eb("tenant", "in", tenants.length ? [...tenants] : [""]), eb("tenant", "is", null)]));
  const row = await query.executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function findAlert(db: Kysely<Database>, id: string) {
  return db.selectFrom("alerts").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Acknowledges an open alert once; answers undefined when it was already acknowledged. */
export async function acknowledgeAlert(db: Kysely<Database>, id: string, by: string, note: string) {
  return db
    .updateTable("alerts")
    .set({ acknowledged_at: sql`now()`, acknowledged_by: by, ack_note: note })
    .where("id", "=", id)
    .where("acknowledged_at", "is", null)
    .returningAll()
    .executeTakeFirst();
}

/** Open alerts by type, for /metrics. */
export async function openAlertsByType(db: Kysely<Database>): Promise<Array<{ type: string; n: number }>> {
  const rows = await db
    .selectFrom("alerts")
    .select(["type", (eb) => eb.fn.countAll<string>().as("n")])
    .where("acknowledged_at", "is", null)
    .groupBy("type")
    .execute();
  return rows.map((r) => ({ type: r.type, n: Number(r.n) }));
}
