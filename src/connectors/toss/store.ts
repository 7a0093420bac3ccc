/**
 * The Toss connector's own tables: what the checkout page needs, since Toss keeps nothing before the
 * customer acts, and the ledger of cancels PGB sent.
 */
import { sql, type ColumnType, type Kysely, type Selectable } from "kysely";
import type { Money } from "../../core/money.ts";
import type { ConnectorStorage } from "../../core/ports/connector-storage.ts";
import type { TossCancelRequest, TossPayment } from "./wire.ts";
import type { RefundOutcome } from "../../core/ports/connector.ts";
import { brand, type PaymentId } from "../../core/ids.ts";

// ---------------------------------------------------------------------------------------------
// The connector's own table: what the checkout page needs, since Toss keeps nothing before the
// customer opens its window. Also the paymentKey and deposit secret once learnt, for webhooks.

type CheckoutStatus = "OPEN" | "RETURNED" | "FAILED" | "EXPIRED";

interface TossCheckoutsTable {
  payment_reference: string;
  tenant: string;
  toss_order_id: string;
  order_name: string;
  amount: ColumnType<string | number | bigint, string | bigint, string | bigint>;
  currency: string;
  pay_type: string;
  return_url: string;
  status: CheckoutStatus;
  payment_key: string | null;
  deposit_secret: string | null;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

type CancelStatus = "SENT" | "DONE" | "PENDING" | "FAILED";

/**
 * One row per cancel PGB sends, written before the call. Toss replays a cancel only for the same
 * Idempotency-Key *and* the same body, and cannot be asked about a cancel by that key, so the row
 * keeps the exact request until its outcome is known (it may hold a refund account; it is erased
 * then) and the outcome after.
 */
interface TossCancelsTable {
  idempotency_key: string;
  tenant: string;
  payment_reference: string;
  payment_key: string;
  amount: ColumnType<string | number | bigint, string | bigint, string | bigint>;
  request: ColumnType<unknown, string | null, string | null>;
  status: CancelStatus;
  transaction_key: string | null;
  failure_code: string | null;
  failure_message: string | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

// A type alias, not an interface: Kysely wants an index-signature-compatible record.
export type TossTables = {
  toss_checkouts: TossCheckoutsTable;
  toss_cancels: TossCancelsTable;
};

type TossDb = Kysely<TossTables>;

const migration0001 = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("toss_checkouts")
      .addColumn("payment_reference", "text", (c) => c.primaryKey())
      .addColumn("tenant", "text", (c) => c.notNull())
      .addColumn("toss_order_id", "text", (c) => c.notNull().unique())
      .addColumn("order_name", "text", (c) => c.notNull())
      .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
      .addColumn("currency", "text", (c) => c.notNull())
      .addColumn("pay_type", "text", (c) => c.notNull())
      .addColumn("return_url", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('OPEN','RETURNED','FAILED','EXPIRED')`))
      .addColumn("payment_key", "text")
      .addColumn("deposit_secret", "text")
      .addColumn("expires_at", "timestamptz", (c) => c.notNull())
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
  },
};

const migration0002 = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("toss_cancels")
      .addColumn("idempotency_key", "text", (c) => c.primaryKey())
      .addColumn("tenant", "text", (c) => c.notNull())
      .addColumn("payment_reference", "text", (c) => c.notNull())
      .addColumn("payment_key", "text", (c) => c.notNull())
      .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
      .addColumn("request", "jsonb")
      .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('SENT','DONE','PENDING','FAILED')`))
      .addColumn("transaction_key", "text")
      .addColumn("failure_code", "text")
      .addColumn("failure_message", "text")
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
  },
};

export interface CheckoutRow {
  paymentReference: PaymentId;
  tenant: string;
  tossOrderId: string;
  orderName: string;
  amount: Money;
  payType: string;
  returnUrl: string;
  status: CheckoutStatus;
  paymentKey: string | null;
  depositSecret: string | null;
  expiresAt: Date;
}

export class CheckoutStore {
  readonly #db: TossDb;
  constructor(storage: ConnectorStorage<TossTables>) {
    this.#db = storage.db;
  }

  /** Idempotent: a PayStart retried with the same payment keeps the first row. */
  async create(row: Omit<CheckoutRow, "status" | "paymentKey" | "depositSecret">): Promise<void> {
    await this.#db
      .insertInto("toss_checkouts")
      .values({
        payment_reference: row.paymentReference,
        tenant: row.tenant,
        toss_order_id: row.tossOrderId,
        order_name: row.orderName,
        amount: row.amount.minor,
        currency: row.amount.currency,
        pay_type: row.payType,
        return_url: row.returnUrl,
        status: "OPEN",
        payment_key: null,
        deposit_secret: null,
        expires_at: row.expiresAt,
      })
      .onConflict((oc) => oc.column("payment_reference").doNothing())
      .execute();
  }

  async find(paymentReference: string): Promise<CheckoutRow | undefined> {
    const row = await this.#db.selectFrom("toss_checkouts").selectAll().where("payment_reference", "=", paymentReference).executeTakeFirst();
    return row === undefined ? undefined : toRow(row);
  }

  async findByOrderId(tenant: string, tossOrderId: string): Promise<CheckoutRow | undefined> {
    const row = await this.#db
      .selectFrom("toss_checkouts")
      .selectAll()
      .where("tenant", "=", tenant)
      .where("toss_order_id", "=", tossOrderId)
      .executeTakeFirst();
    return row === undefined ? undefined : toRow(row);
  }

  /** Keeps the paymentKey and the deposit secret Toss answered, for later webhooks and calls. */
  async remember(paymentReference: string, payment: TossPayment): Promise<void> {
    await this.#db
      .updateTable("toss_checkouts")
      .set(
        payment.secret
          ? { payment_key: payment.paymentKey, deposit_secret: payment.secret, updated_at: sql<Date>`now()` }
          : { payment_key: payment.paymentKey, updated_at: sql<Date>`now()` },
      )
      .where("payment_reference", "=", paymentReference)
      .execute();
  }

  async setStatus(paymentReference: string, status: CheckoutStatus, from: readonly CheckoutStatus[]): Promise<void> {
    await this.#db
      .updateTable("toss_checkouts")
      .set({ status, updated_at: sql<Date>`now()` })
      .where("payment_reference", "=", paymentReference)
      .where("status", "in", from)
      .execute();
  }
}

export interface CancelRow {
  idempotencyKey: string;
  paymentReference: string;
  paymentKey: string;
  request: TossCancelRequest | null;
  status: CancelStatus;
  transactionKey: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
}

export class CancelLedger {
  readonly #db: TossDb;
  constructor(storage: ConnectorStorage<TossTables>) {
    this.#db = storage.db;
  }

  /** Records the cancel about to be sent; a retry finds the first attempt's row (and its request). */
  async begin(row: {
    idempotencyKey: string;
    tenant: string;
    paymentReference: string;
    paymentKey: string;
    amount: Money;
    request: TossCancelRequest;
  }): Promise<CancelRow> {
    await this.#db
      .insertInto("toss_cancels")
      .values({
        idempotency_key: row.idempotencyKey,
        tenant: row.tenant,
        payment_reference: row.paymentReference,
        payment_key: row.paymentKey,
        amount: row.amount.minor,
        request: JSON.stringify(row.request),
        status: "SENT",
      })
      .onConflict((oc) => oc.column("idempotency_key").doNothing())
      .execute();
    const stored = await this.find(row.idempotencyKey);
    if (stored === undefined) throw new Error(`toss_cancels row ${row.idempotencyKey} vanished`);
    return stored;
  }

  async find(idempotencyKey: string): Promise<CancelRow | undefined> {
    const row = await this.#db.selectFrom("toss_cancels").selectAll().where("idempotency_key", "=", idempotencyKey).executeTakeFirst();
    if (row === undefined) return undefined;
    const request = typeof row.request === "string" ? (JSON.parse(row.request) as TossCancelRequest) : ((row.request ?? null) as TossCancelRequest | null);
    return {
      idempotencyKey: row.idempotency_key,
      paymentReference: row.payment_reference,
      paymentKey: row.payment_key,
      request,
      status: row.status,
      transactionKey: row.transaction_key,
      failureCode: row.failure_code,
      failureMessage: row.failure_message,
      createdAt: new Date(row.created_at),
    };
  }

  /** The outcome is known: keep it, and drop the request (and any bank account in it). */
  async settle(idempotencyKey: string, outcome: RefundOutcome): Promise<void> {
    await this.#db
      .updateTable("toss_cancels")
      .set({
        status: outcome.status === "SUCCEEDED" ? "DONE" : outcome.status,
        transaction_key: outcome.pgRefundId ?? null,
        failure_code: outcome.status === "FAILED" ? outcome.code : null,
        failure_message: outcome.status === "FAILED" ? outcome.message : null,
        request: outcome.status === "PENDING" ? sql<string | null>`request` : null,
        updated_at: sql<Date>`now()`,
      })
      .where("idempotency_key", "=", idempotencyKey)
      .execute();
  }
}

function toRow(row: Selectable<TossCheckoutsTable>): CheckoutRow {
  return {
    paymentReference: brand<PaymentId>(row.payment_reference),
    tenant: row.tenant,
    tossOrderId: row.toss_order_id,
    orderName: row.order_name,
    // Only KRW rows are ever written (createCheckout refuses anything else).
    amount: { minor: BigInt(row.amount), currency: "KRW" },
    payType: row.pay_type,
    returnUrl: row.return_url,
    status: row.status,
    paymentKey: row.payment_key,
    depositSecret: row.deposit_secret,
    expiresAt: new Date(row.expires_at),
  };
}

export const tossMigrations = { "toss-0001": migration0001, "toss-0002": migration0002 };
