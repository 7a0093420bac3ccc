/**
 * Reads for `pgb export`: payments or refunds created in [from, to), in batches by keyset on
 * (created_at, id), so a million rows never sit in memory at once and a row written meanwhile is
 * neither skipped nor repeated. The cursor keeps created_at as PostgreSQL's own text, because a JS
 * Date drops the microseconds that order rows created in the same millisecond.
 */
import { sql } from "kysely";
import type { Db } from "./database.ts";

export interface ExportFilter {
  from: Date;
  to: Date;
  tenant?: string | undefined;
  pg?: string | undefined;
}

export interface PaymentExportRow {
  payment_id: string;
  tenant: string;
  order_id: number;
  joiner_id: number;
  status: string;
  pg: string;
  pay_type: string;
  nation_code: string;
  currency: string;
  amount: string;
  refunded: string;
  pg_transaction_id: string | null;
  created_at: string;
  paid_at: string | null;
}

export interface RefundExportRow {
  refund_id: string;
  payment_id: string;
  tenant: string;
  order_id: number;
  pg: string;
  currency: string;
  amount: string;
  status: string;
  pg_reference: string | null;
  failure_code: string | null;
  created_at: string;
}

type Cursor = { at: string; id: string } | undefined;

export async function countForExport(db: Db, kind: "payments" | "refunds", filter: ExportFilter): Promise<number> {
  const row =
    kind === "payments"
      ? await paymentsQuery(db, filter)
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .executeTakeFirstOrThrow()
      : await refundsQuery(db, filter)
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function* paymentsForExport(db: Db, filter: ExportFilter, batchSize = 1000): AsyncGenerator<PaymentExportRow[]> {
  let cursor: Cursor;
  for (;;) {
    const rows = await paymentsQuery(db, filter)
      .$if(cursor !== undefined, (q) => q.where(sql<boolean>`(p.created_at, p.id) > (${cursor!.at}::timestamptz, ${cursor!.id})`))
      .select([
        "p.id as payment_id",
        "p.tenant",
        "p.order_id",
        "p.joiner_id",
        "p.status",
        "p.pg",
        "p.pay_type",
        "p.nation_code",
        "p.currency",
        sql<string>`p.amount::text`.as("amount"),
        sql<string>`coalesce((select sum(m.amount) from money_movements m where m.payment_id = p.id and m.kind = 'REFUND' and m.status = 'SUCCEEDED'), 0)::text`.as(
          "refunded",
        ),
        "p.pg_transaction_id",
        sql<string>`p.created_at::text`.as("created_at"),
        sql<string | null>`p.paid_at::text`.as("paid_at"),
      ])
      .orderBy("p.created_at")
      .orderBy("p.id")
      .limit(batchSize)
      .execute();
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1]!;
    cursor = { at: last.created_at, id: last.payment_id };
    if (rows.length < batchSize) return;
  }
}

export async function* refundsForExport(db: Db, filter: ExportFilter, batchSize = 1000): AsyncGenerator<RefundExportRow[]> {
  let cursor: Cursor;
  for (;;) {
    const rows = await refundsQuery(db, filter)
      .$if(cursor !== undefined, (q) => q.where(sql<boolean>`(m.created_at, m.id) > (${cursor!.at}::timestamptz, ${cursor!.id})`))
      .select([
        "m.id as refund_id",
        "m.payment_id",
        "p.tenant",
        "p.order_id",
        "p.pg",
        "p.currency",
        sql<string>`m.amount::text`.as("amount"),
        "m.status",
        "m.pg_reference",
        "m.failure_code",
        sql<string>`m.created_at::text`.as("created_at"),
      ])
      .orderBy("m.created_at")
      .orderBy("m.id")
      .limit(batchSize)
      .execute();
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1]!;
    cursor = { at: last.created_at, id: last.refund_id };
    if (rows.length < batchSize) return;
  }
}

function paymentsQuery(db: Db, filter: ExportFilter) {
  return db
    .selectFrom("payments as p")
    .where("p.created_at", ">=", filter.from)
    .where("p.created_at", "<", filter.to)
    .$if(filter.tenant !== undefined, (q) => q.where("p.tenant", "=", filter.tenant!))
    .$if(filter.pg !== undefined, (q) => q.where("p.pg", "=", filter.pg!));
}

function refundsQuery(db: Db, filter: ExportFilter) {
  return db
    .selectFrom("money_movements as m")
    .innerJoin("payments as p", "p.id", "m.payment_id")
    .where("m.kind", "=", "REFUND")
    .where("m.created_at", ">=", filter.from)
    .where("m.created_at", "<", filter.to)
    .$if(filter.tenant !== undefined, (q) => q.where("p.tenant", "=", filter.tenant!))
    .$if(filter.pg !== undefined, (q) => q.where("p.pg", "=", filter.pg!));
}
