/** The TEST PG's own records (tables test_pg_*), as a real PG keeps them on its side. */
import { sql, type Kysely } from "kysely";
import { Precompiled } from "../../storage/precompiled.ts";

export type TestPgStatus = "OPEN" | "WAITING_FOR_DEPOSIT" | "PAID" | "FAILED" | "CANCELLED_BY_CUSTOMER" | "EXPIRED";

export interface TestPgPayment {
  id: string;
  tenant: string;
  merchantReference: string;
  amountMinor: bigint;
  currency: string;
  payType: string;
  description: string;
  status: TestPgStatus;
  returnUrl: string;
  webhookUrl: string;
  refundedMinor: bigint;
  account: { bank: string; accountNumber: string; holderName: string; dueDate: string } | null;
  expiresAt: Date;
  /** False while the checkout exists only as its signed id (nobody has acted on it yet). */
  stored: boolean;
}

// A type alias, not an interface: Kysely wants an index-signature-compatible record.
export type TestPgTables = {
  test_pg_payments: {
    id: string;
    tenant: string;
    merchant_reference: string;
    idempotency_key: string;
    amount: string | number | bigint;
    currency: string;
    pay_type: string;
    description: string;
    status: string;
    return_url: string;
    webhook_url: string;
    refunded: string | number | bigint;
    account: unknown;
    expires_at: Date | string;
    created_at: Date | string;
    updated_at: Date | string;
  };
  test_pg_refunds: {
    id: string;
    payment_id: string;
    idempotency_key: string;
    amount: string | number | bigint;
    /** SUCCEEDED, or FAILED when the TEST PG fails it after the fact (test-pg-0002). */
    status: string;
    failure_code: string | null;
    created_at: Date | string;
  };
};

export const testPgMigrations = {
  "test-pg-0001": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`CREATE TABLE test_pg_payments (
        id text PRIMARY KEY,
        tenant text NOT NULL,
        merchant_reference text NOT NULL,
        idempotency_key text NOT NULL UNIQUE,
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        pay_type text NOT NULL,
        description text NOT NULL,
        status text NOT NULL,
        return_url text NOT NULL,
        webhook_url text NOT NULL,
        refunded bigint NOT NULL DEFAULT 0,
        account jsonb,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (refunded >= 0 AND refunded <= amount)
      )`.execute(db);
      await sql`CREATE TABLE test_pg_refunds (
        id text PRIMARY KEY,
        payment_id text NOT NULL REFERENCES test_pg_payments(id),
        idempotency_key text NOT NULL UNIQUE,
        amount bigint NOT NULL CHECK (amount > 0),
        created_at timestamptz NOT NULL DEFAULT now()
      )`.execute(db);
    },
    async down(): Promise<void> {},
  },
  // A refund can fail after it succeeded (a card that no longer takes it), as at a real PG.
  "test-pg-0002": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`ALTER TABLE test_pg_refunds ADD COLUMN status text NOT NULL DEFAULT 'SUCCEEDED'`.execute(db);
      await sql`ALTER TABLE test_pg_refunds ADD COLUMN failure_code text`.execute(db);
    },
    async down(): Promise<void> {},
  },
};

export interface TestPgRefund {
  refundId: string;
  paymentId: string;
  amountMinor: bigint;
  status: "SUCCEEDED" | "FAILED";
  failureCode: string | null;
  /** The merchant's idempotency key (PGB's refund row id); null for a refund made in the dashboard. */
  merchantKey: string | null;
}

/** test_pg_payments' columns by name: a prepared statement must not select `*` (named-statements.ts). */
const TEST_PG_PAYMENT_COLUMNS = [
  "id",
  "tenant",
  "merchant_reference",
  "idempotency_key",
  "amount",
  "currency",
  "pay_type",
  "description",
  "status",
  "return_url",
  "webhook_url",
  "refunded",
  "account",
  "expires_at",
  "created_at",
  "updated_at",
] as const;
export const TEST_PG_PAYMENT_COLUMN_LIST = sql.join(TEST_PG_PAYMENT_COLUMNS.map((c) => sql.ref(c)));
export function testPgPaymentColumnsOf(table: string) {
  return sql.join(TEST_PG_PAYMENT_COLUMNS.map((c) => sql.ref(`${table}.${c}`)));
}

/**
 * The record's read, on every webhook PGB checks against the TEST PG: compiled once, and prepared on
 * PostgreSQL (storage/named-statements.ts: reached by its key, columns by name).
 */
export const testPgPaymentById = new Precompiled({
  build: (db: Kysely<TestPgTables>, id: string) => db.selectFrom("test_pg_payments").select(TEST_PG_PAYMENT_COLUMNS).where("id", "=", id),
  parameters: (id) => [id],
  prepared: true,
});
