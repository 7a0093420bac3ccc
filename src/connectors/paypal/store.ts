/**
 * The PayPal connector's one table: the orders PGB closed. PayPal has no call to void an order with
 * intent CAPTURE, and a buyer may still approve one PGB has given up on; the connector then must
 * not capture it. Everything else about a payment lives in PGB's own records (the order id is the
 * payment's pgTransactionId, the capture id is in its details).
 */
import { sql, type Generated, type Kysely } from "kysely";
import type { ConnectorStorage } from "../../core/ports/connector-storage.ts";

export type PayPalTables = {
  paypal_closed_orders: { order_id: string; tenant: string; payment_reference: string; closed_at: Generated<Date> };
};

const migration1 = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("paypal_closed_orders")
      .addColumn("order_id", "text", (c) => c.primaryKey())
      .addColumn("tenant", "text", (c) => c.notNull())
      .addColumn("payment_reference", "text", (c) => c.notNull())
      .addColumn("closed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
  },
};

export const paypalMigrations = { "paypal-1": migration1 };

export class ClosedOrders {
  readonly #db: Kysely<PayPalTables>;
  constructor(storage: ConnectorStorage<PayPalTables>) {
    this.#db = storage.db;
  }

  /** Idempotent. */
  async close(row: { orderId: string; tenant: string; paymentReference: string }): Promise<void> {
    await this.#db
      .insertInto("paypal_closed_orders")
      .values({ order_id: row.orderId, tenant: row.tenant, payment_reference: row.paymentReference })
      .onConflict((oc) => oc.column("order_id").doNothing())
      .execute();
  }

  async isClosed(orderId: string): Promise<boolean> {
    const row = await this.#db.selectFrom("paypal_closed_orders").select("order_id").where("order_id", "=", orderId).executeTakeFirst();
    return row !== undefined;
  }
}
