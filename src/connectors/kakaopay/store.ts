/**
 * The KakaoPay connector's one table. KakaoPay takes no idempotency key and cannot be asked for a
 * payment by PGB's reference, so what its ready call answered is kept here: the tid (a PayStart
 * retried with the same payment gets the same tid), the partner_user_id the approve call must repeat,
 * (and partner_order_id, so a rotated secret key does not change them mid-payment), and both redirect URLs, from which PGB's checkout page picks the one for the buyer's device.
 * A checkout PGB closed is marked EXPIRED here: KakaoPay moves no money without PGB's approve call,
 * and PGB makes none for an expired row.
 */
import { sql, type ColumnType, type Kysely, type Migration } from "kysely";
import { brand, type PaymentId, type PgTransactionId } from "../../core/ids.ts";
import type { ConnectorStorage } from "../../core/ports/connector-storage.ts";

type CheckoutStatus = "OPEN" | "EXPIRED";

interface KakaoPayCheckoutsTable {
  payment_reference: string;
  tenant: string;
  tid: string;
  partner_order_id: string;
  partner_user_id: string;
  amount: ColumnType<string | number | bigint, string | bigint, string | bigint>;
  pc_url: string;
  mobile_url: string;
  status: CheckoutStatus;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

// A type alias, not an interface: Kysely wants an index-signature-compatible record.
export type KakaoPayTables = { kakaopay_checkouts: KakaoPayCheckoutsTable };
type KakaoPayDb = Kysely<KakaoPayTables>;

export const kakaoPayMigrations: Record<string, Migration> = {
  "kakaopay-1": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("kakaopay_checkouts")
        .addColumn("payment_reference", "text", (c) => c.primaryKey())
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("tid", "text", (c) => c.notNull().unique())
        .addColumn("partner_order_id", "text", (c) => c.notNull())
        .addColumn("partner_user_id", "text", (c) => c.notNull())
        .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
        .addColumn("pc_url", "text", (c) => c.notNull())
        .addColumn("mobile_url", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull().check(sql`status IN ('OPEN','EXPIRED')`))
        .addColumn("expires_at", "timestamptz", (c) => c.notNull())
        .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
  },
};

export interface KakaoPayCheckout {
  paymentReference: PaymentId;
  tenant: string;
  tid: PgTransactionId;
  partnerOrderId: string;
  partnerUserId: string;
  amountMinor: bigint;
  pcUrl: string;
  mobileUrl: string;
  status: CheckoutStatus;
  expiresAt: Date;
}

export class KakaoPayCheckouts {
  readonly #db: KakaoPayDb;
  constructor(storage: ConnectorStorage<KakaoPayTables>) {
    this.#db = storage.db;
  }

  /** Keeps the first checkout for a payment: a racing second ready's tid is never handed out. */
  async create(row: Omit<KakaoPayCheckout, "status">): Promise<KakaoPayCheckout> {
    await this.#db
      .insertInto("kakaopay_checkouts")
      .values({
        payment_reference: row.paymentReference,
        tenant: row.tenant,
        tid: row.tid,
        partner_order_id: row.partnerOrderId,
        partner_user_id: row.partnerUserId,
        amount: row.amountMinor,
        pc_url: row.pcUrl,
        mobile_url: row.mobileUrl,
        status: "OPEN",
        expires_at: row.expiresAt,
      })
      .onConflict((oc) => oc.column("payment_reference").doNothing())
      .execute();
    const kept = await this.find(row.paymentReference);
    if (kept === undefined) throw new Error(`KakaoPay checkout ${row.paymentReference} vanished after insert`);
    return kept;
  }

  async find(paymentReference: string): Promise<KakaoPayCheckout | undefined> {
    const row = await this.#db.selectFrom("kakaopay_checkouts").selectAll().where("payment_reference", "=", paymentReference).executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      paymentReference: brand<PaymentId>(row.payment_reference),
      tenant: row.tenant,
      tid: brand<PgTransactionId>(row.tid),
      partnerOrderId: row.partner_order_id,
      partnerUserId: row.partner_user_id,
      amountMinor: BigInt(row.amount),
      pcUrl: row.pc_url,
      mobileUrl: row.mobile_url,
      status: row.status,
      expiresAt: new Date(row.expires_at),
    };
  }

  async expire(paymentReference: string): Promise<void> {
    await this.#db
      .updateTable("kakaopay_checkouts")
      .set({ status: "EXPIRED", updated_at: sql<Date>`now()` })
      .where("payment_reference", "=", paymentReference)
      .where("status", "=", "OPEN")
      .execute();
  }
}
