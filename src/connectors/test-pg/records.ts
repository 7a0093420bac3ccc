/** The TEST PG's own records (tables test_pg_*), as a real PG keeps them on its side. */
import { sql, type Insertable, type Kysely } from "kysely";
import { compilableSql, insertedColumns, Precompiled } from "../../storage/precompiled.ts";

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
const TEST_PG_PAYMENT_COLUMN_LIST = sql.join(TEST_PG_PAYMENT_COLUMNS.map((c) => sql.ref(c)));
function testPgPaymentColumnsOf(table: string) {
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

/** A record's first write, on the customer's first action: compiled once, prepared (reached by its key). */
export const insertTestPgPayment = new Precompiled({
  build: (db: Kysely<TestPgTables>, row: Insertable<TestPgTables["test_pg_payments"]>) =>
    db
      .insertInto("test_pg_payments")
      .values(row)
      .onConflict((oc) => oc.column("id").doNothing())
      .returning(TEST_PG_PAYMENT_COLUMNS),
  shape: (row) => insertedColumns(row).join(","),
  parameters: (row) => insertedColumns(row).map((column) => row[column]),
  prepared: true,
});

/** A record's status change, guarded by the statuses it may come from. */
export interface TestPgStatusChange {
  id: string;
  to: TestPgStatus;
  from: readonly TestPgStatus[];
  at: Date;
  account?: string;
}

/** Every status change of a record (a customer's pay, say): compiled once per shape, prepared (by its key). */
export const setTestPgStatus = new Precompiled({
  build: (db: Kysely<TestPgTables>, c: TestPgStatusChange) =>
    db
      .updateTable("test_pg_payments")
      .set({ status: c.to, updated_at: c.at, ...(c.account === undefined ? {} : { account: c.account }) })
      .where("id", "=", c.id)
      .where("status", "in", [...c.from])
      .returning(TEST_PG_PAYMENT_COLUMNS),
  shape: (c) => `${c.from.length};${c.account === undefined ? "" : "account"}`,
  parameters: (c) => [c.to, c.at, ...(c.account === undefined ? [] : [c.account]), c.id, ...c.from],
  prepared: true,
});

/** What one refund attempt says: the PG's own refund id, under the merchant's key. */
export interface TestPgRefundAttempt {
  /** `tenant:idempotencyKey` */
  key: string;
  /** Minor units, as decimal text. */
  amount: string;
  now: Date;
  id: string;
  tenant: string;
  refundId: string;
}

type RefundAnswer = TestPgTables["test_pg_payments"] & {
  outcome: "refunded" | "earlier" | "refused";
  refund_id: string | null;
  refund_payment_id: string | null;
  refund_amount: string | null;
};

// Compiled once and prepared on PostgreSQL (storage/named-statements.ts): every row reached by its
// key, columns by name.
export const testPgRefundStatement = new Precompiled({
  build: (db: Kysely<TestPgTables>, { key, amount, now, id, tenant, refundId }: TestPgRefundAttempt) =>
    compilableSql(
      db,
      sql<RefundAnswer>`
      WITH earlier AS (
        SELECT id, payment_id, amount FROM test_pg_refunds WHERE idempotency_key = ${key}
      ), raised AS (
        UPDATE test_pg_payments SET refunded = refunded + ${amount}::bigint, updated_at = ${now}
        WHERE id = ${id} AND tenant = ${tenant} AND status = 'PAID' AND ${amount}::bigint > 0 AND refunded + ${amount}::bigint <= amount
          AND NOT EXISTS (SELECT 1 FROM earlier)
        RETURNING ${TEST_PG_PAYMENT_COLUMN_LIST}
      ), inserted AS (
        INSERT INTO test_pg_refunds (id, payment_id, idempotency_key, amount, status, failure_code, created_at)
        SELECT ${refundId}, raised.id, ${key}, ${amount}::bigint, 'SUCCEEDED', NULL, ${now} FROM raised
        RETURNING id
      )
      SELECT 'refunded' AS outcome, inserted.id AS refund_id, NULL AS refund_payment_id, NULL AS refund_amount, ${testPgPaymentColumnsOf("raised")}
      FROM raised CROSS JOIN inserted
      UNION ALL
      SELECT 'earlier', earlier.id, earlier.payment_id, earlier.amount::text, ${testPgPaymentColumnsOf("p")}
      FROM earlier LEFT JOIN test_pg_payments p ON p.id = ${id}
      UNION ALL
      SELECT 'refused', NULL, NULL, NULL, ${testPgPaymentColumnsOf("p")}
      FROM test_pg_payments p
      WHERE p.id = ${id} AND p.tenant = ${tenant} AND NOT EXISTS (SELECT 1 FROM earlier) AND NOT EXISTS (SELECT 1 FROM raised)`,
    ),
  // In the text's order, one line per CTE and branch.
  parameters: ({ key, amount, now, id, tenant, refundId }) => [
    ...[key],
    ...[amount, now, id, tenant, amount, amount],
    ...[refundId, key, amount, now],
    ...[id],
    ...[id, tenant],
  ],
  prepared: true,
});
