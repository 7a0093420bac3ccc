/**
 * Helpers for the money-integrity tests: alerts captured from PGB's logger, and the TEST PG's own
 * books per order, to compare with PGB's.
 */
import pino from "pino";
import type { TestPgb } from "../support/pgb.ts";
import { testPgLedger } from "../support/test-pg-ledger.ts";

export interface Alert {
  alert: string;
  paymentId?: string;
  [key: string]: unknown;
}

/** Replaces PGB's logger with one that keeps every alert it logs. */
export function captureAlerts(pgb: TestPgb): Alert[] {
  const alerts: Alert[] = [];
  pgb.deps.logger = pino(
    { level: "error" },
    {
      write(line: string) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry.alert === "string") alerts.push(entry as Alert);
      },
    },
  );
  return alerts;
}

export interface Books {
  captured: bigint;
  refunded: bigint;
}

/** What the TEST PG holds for an order's attempts: money captured and refunded. */
export async function pgBooks(pgb: TestPgb, orderId: number): Promise<Books> {
  const ids = (await pgb.database.db.selectFrom("payments").select("id").where("order_id", "=", orderId).execute()).map((r) => r.id);
  let captured = 0n;
  let refunded = 0n;
  for (const r of await testPgLedger(pgb.database.db).payments(ids)) {
    if (r.status === "PAID") captured += r.amount;
    refunded += r.refunded;
  }
  return { captured, refunded };
}

/** What PGB's books say for the same order, over every attempt. */
export async function pgbBooks(pgb: TestPgb, orderId: number): Promise<Books> {
  const rows = await pgb.database.db
    .selectFrom("money_movements as m")
    .innerJoin("payments as p", "p.id", "m.payment_id")
    .select(["m.kind", "m.status", "m.amount"])
    .where("p.order_id", "=", orderId)
    .execute();
  let captured = 0n;
  let refunded = 0n;
  for (const r of rows) {
    if (r.kind === "CAPTURE" && r.status === "SUCCEEDED") captured += BigInt(r.amount);
    if (r.kind === "REFUND" && r.status === "SUCCEEDED") refunded += BigInt(r.amount);
  }
  return { captured, refunded };
}

export async function pgTransactionOf(pgb: TestPgb, paymentId: string): Promise<string> {
  const row = await pgb.database.db.selectFrom("payments").select("pg_transaction_id").where("id", "=", paymentId).executeTakeFirstOrThrow();
  return row.pg_transaction_id!;
}
