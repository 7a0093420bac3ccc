/**
 * What the TEST PG recorded on its own side (its test_pg_* tables, which live in PGB's database), read
 * straight from the rows: none of the fake PG's logic runs (no expiry on read), so a test sees what
 * the PG holds, to compare with PGB's books. PGB's own tables are read by the tests themselves.
 */
import type { Kysely } from "kysely";
import type { TestPgStatus, TestPgTables } from "../../src/connectors/test-pg/records.ts";
import type { Database } from "../../src/storage/schema.ts";

export interface TestPgPaymentRecord {
  /** The TEST PG's payment id: what PGB stores as the payment's pg_transaction_id. */
  id: string;
  /** PGB's payment id, which PGB gave the TEST PG as its reference. */
  merchantReference: string;
  status: TestPgStatus;
  amount: bigint;
  currency: string;
  refunded: bigint;
}

export interface TestPgRefundRecord {
  id: string;
  /** The TEST PG's payment id the refund is of. */
  pgPaymentId: string;
  /** `<tenant>:<PGB's refund row id>` for PGB's refunds; `dashboard:<id>` for the merchant's own. */
  idempotencyKey: string;
  amount: bigint;
  status: "SUCCEEDED" | "FAILED";
}

export interface TestPgLedger {
  /** The record of PGB's payment; undefined while its checkout exists only as its signed id (nobody has acted on it). */
  payment(paymentId: string): Promise<TestPgPaymentRecord | undefined>;
  /** The records of several PGB payments (an order's attempts), those there are. */
  payments(paymentIds: readonly string[]): Promise<TestPgPaymentRecord[]>;
  /** What the TEST PG has refunded of PGB's payment; throws where it holds no record of that payment. */
  refunded(paymentId: string): Promise<bigint>;
  /** Every refund the TEST PG holds, or those of its payment `pgPaymentId`, oldest first. */
  refunds(pgPaymentId?: string): Promise<TestPgRefundRecord[]>;
  /** Rewrites the record of its payment `pgPaymentId`, as a PG whose books disagree with what it was asked. */
  misrecord(pgPaymentId: string, change: { addToAmount?: bigint; currency?: string }): Promise<void>;
}

export function testPgLedger(db: Kysely<Database>): TestPgLedger {
  // The TEST PG's tables are not in PGB's schema type; this is the one place that says they exist.
  const pg = db as unknown as Kysely<TestPgTables>;
  const payments = async (paymentIds: readonly string[]): Promise<TestPgPaymentRecord[]> => {
    if (paymentIds.length === 0) return [];
    const rows = await pg
      .selectFrom("test_pg_payments")
      .select(["id", "merchant_reference", "status", "amount", "currency", "refunded"])
      .where("merchant_reference", "in", paymentIds)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map((row) => ({
      id: row.id,
      merchantReference: row.merchant_reference,
      // The TEST PG writes no other status (records.ts).
      status: row.status as TestPgStatus,
      amount: BigInt(row.amount),
      currency: row.currency,
      refunded: BigInt(row.refunded),
    }));
  };
  const payment = async (paymentId: string): Promise<TestPgPaymentRecord | undefined> => {
    const found = await payments([paymentId]);
    if (found.length > 1) throw new Error(`the TEST PG holds ${found.length} records of payment ${paymentId}`);
    return found[0];
  };
  return {
    payment,
    payments,
    async refunded(paymentId) {
      const found = await payment(paymentId);
      if (found === undefined) throw new Error(`the TEST PG holds no record of payment ${paymentId}`);
      return found.refunded;
    },
    async refunds(pgPaymentId) {
      let query = pg.selectFrom("test_pg_refunds").select(["id", "payment_id", "idempotency_key", "amount", "status"]);
      if (pgPaymentId !== undefined) query = query.where("payment_id", "=", pgPaymentId);
      const rows = await query.orderBy("created_at").orderBy("id").execute();
      return rows.map((row) => ({
        id: row.id,
        pgPaymentId: row.payment_id,
        idempotencyKey: row.idempotency_key,
        amount: BigInt(row.amount),
        status: row.status === "FAILED" ? "FAILED" : "SUCCEEDED",
      }));
    },
    async misrecord(pgPaymentId, change) {
      const current = await pg.selectFrom("test_pg_payments").select(["amount", "currency"]).where("id", "=", pgPaymentId).executeTakeFirstOrThrow();
      await pg
        .updateTable("test_pg_payments")
        .set({ amount: String(BigInt(current.amount) + (change.addToAmount ?? 0n)), currency: change.currency ?? current.currency })
        .where("id", "=", pgPaymentId)
        .execute();
    },
  };
}
