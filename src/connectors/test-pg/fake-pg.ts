/**
 * The TEST PG itself: a fake payment gateway built into PGB so the whole flow runs with no PG account.
 * It keeps its own records (tables test_pg_*), like a real PG would on its side, serves a checkout page
 * that works without JavaScript, and sends signed webhooks (Standard Webhooks scheme; see
 * webhook-sender.ts) to PGB. PGB's TEST connector talks to it only through the methods a real PG's API
 * would offer.
 *
 * Like Toss's, its checkout needs no server-side record until the customer acts: the checkout id is a
 * self-describing token signed with a key derived from the merchant's TEST secret, and the record is
 * written when the customer (or the merchant's expire) first changes it. So a PayStart costs PGB one
 * write, not two, while a forged or altered checkout id is refused. Where the customer returns and
 * where webhooks go come from PGB's own publicUrl, never from the id: the TEST secret of the example
 * config is public, and a minted id must not send a browser or a signed POST anywhere else.
 */
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { ConnectorStorage } from "../../core/ports/connector-storage.ts";
import type { Logger } from "pino";
import { newId } from "../../core/ids.ts";
import { registerNamedStatement } from "../../storage/named-statements.ts";
import type { Clock } from "../../core/ports/clock.ts";
import {
  TEST_PG_PAYMENT_COLUMN_LIST,
  testPgPaymentById,
  testPgPaymentColumnsOf,
  type TestPgPayment,
  type TestPgRefund,
  type TestPgStatus,
  type TestPgTables,
} from "./records.ts";
import { TestPgWebhookSender, type WebhookTarget } from "./webhook-sender.ts";
import { CheckoutIds, type CheckoutClaims } from "./checkout-ids.ts";

export class TestPgError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

export type CustomerAction = "pay" | "fail" | "cancel" | "issue-account" | "deposit";

export class FakeTestPg {
  private readonly db: Kysely<TestPgTables>;
  private readonly webhooks: TestPgWebhookSender;
  private readonly checkoutIds: CheckoutIds;

  constructor(
    private readonly storage: ConnectorStorage<TestPgTables>,
    logger: Logger,
    private readonly publicUrl: string,
    webhookTargetFor: (tenant: string) => WebhookTarget | undefined,
    private readonly clock: Clock,
  ) {
    this.db = storage.db;
    this.webhooks = new TestPgWebhookSender(logger, webhookTargetFor, clock);
    this.checkoutIds = new CheckoutIds(webhookTargetFor);
  }

  checkoutUrl(id: string): string {
    return `${this.publicUrl}/test-pg/checkout/${id}`;
  }

  async create(input: {
    tenant: string;
    merchantReference: string;
    idempotencyKey: string;
    amountMinor: bigint;
    currency: string;
    payType: string;
    description: string;
    expiresAt: Date;
  }): Promise<TestPgPayment> {
    const claims: CheckoutClaims = {
      t: input.tenant,
      r: input.merchantReference,
      k: input.idempotencyKey,
      a: input.amountMinor.toString(),
      c: input.currency,
      p: input.payType,
      d: input.description.slice(0, 120),
      e: input.expiresAt.getTime(),
    };
    // The same request answers the same checkout, as an idempotent PG does.
    const id = this.checkoutIds.mint(claims);
    if (id === undefined) throw new TestPgError("UNKNOWN_MERCHANT", `no TEST merchant ${input.tenant}`, 401);
    return this.fromClaims(id, claims);
  }

  async findById(id: string): Promise<TestPgPayment | undefined> {
    const row = await this.record(id);
    if (row !== undefined) return this.expireIfDue(this.toPayment(row));
    const claims = this.checkoutIds.verify(id);
    return claims && this.fromClaims(id, claims);
  }

  private async record(id: string): Promise<TestPgTables["test_pg_payments"] | undefined> {
    const { rows } = await this.db.executeQuery(testPgPaymentById.compiled(this.db, id));
    return rows[0];
  }

  async get(tenant: string, id: string): Promise<TestPgPayment> {
    const payment = await this.findById(id);
    if (payment === undefined || payment.tenant !== tenant) throw new TestPgError("NOT_FOUND", `no TEST payment ${id}`, 404);
    return payment;
  }

  private async expireIfDue(payment: TestPgPayment): Promise<TestPgPayment> {
    if ((payment.status === "OPEN" || payment.status === "WAITING_FOR_DEPOSIT") && payment.expiresAt.getTime() <= this.clock.nowMs()) {
      return this.setStatus(payment, "EXPIRED", [payment.status]);
    }
    return payment;
  }

  /** Writes the record of a checkout that so far exists only as its signed id. */
  private async store(payment: TestPgPayment, claims: CheckoutClaims): Promise<TestPgPayment> {
    if (payment.stored) return payment;
    const row = (await this.insertRecord(payment.id, claims)) ?? (await this.record(payment.id));
    if (row === undefined) throw new TestPgError("NOT_FOUND", `no TEST payment ${payment.id}`, 404);
    return this.expireIfDue(this.toPayment(row));
  }

  /** The record's first write; undefined when it was written before. */
  private insertRecord(id: string, claims: CheckoutClaims) {
    return this.db
      .insertInto("test_pg_payments")
      .values({
        id,
        tenant: claims.t,
        merchant_reference: claims.r,
        idempotency_key: `${claims.t}:${claims.k}:${id.slice(-32)}`,
        amount: claims.a,
        currency: claims.c,
        pay_type: claims.p,
        description: claims.d,
        status: "OPEN",
        return_url: this.returnUrl(claims.r),
        webhook_url: this.webhookUrl(claims.t),
        refunded: "0",
        account: null,
        expires_at: new Date(claims.e),
        created_at: this.clock.now(),
        updated_at: this.clock.now(),
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  private async stored(id: string): Promise<TestPgPayment | undefined> {
    const payment = await this.findById(id);
    if (payment === undefined || payment.stored) return payment;
    return this.store(payment, this.checkoutIds.verify(id)!);
  }

  /**
   * stored(), for a customer's action on the page, which is most often the checkout's first: its
   * record is written at once, and read only when it had been written before.
   */
  private async storedOnAction(id: string): Promise<TestPgPayment | undefined> {
    const claims = this.checkoutIds.verify(id);
    const written = claims && (await this.insertRecord(id, claims));
    return written === undefined ? this.stored(id) : this.expireIfDue(this.toPayment(written));
  }

  /** What the customer (or the bank, for a deposit) does on the checkout page. */
  async act(id: string, action: CustomerAction): Promise<TestPgPayment> {
    const payment = await this.storedOnAction(id);
    if (payment === undefined) throw new TestPgError("NOT_FOUND", `no TEST payment ${id}`, 404);
    const isVirtualAccount = payment.payType === "VIRTUAL_ACCOUNT";
    switch (action) {
      case "pay":
        if (isVirtualAccount) throw new TestPgError("INVALID_ACTION", "a virtual-account payment is paid by deposit", 400);
        return this.setStatus(payment, "PAID", ["OPEN"]);
      case "fail":
        return this.setStatus(payment, "FAILED", ["OPEN"]);
      case "cancel":
        return this.setStatus(payment, "CANCELLED_BY_CUSTOMER", ["OPEN"]);
      case "issue-account": {
        if (!isVirtualAccount) throw new TestPgError("INVALID_ACTION", "only a virtual-account payment issues an account", 400);
        const dueDate = new Date(Math.min(payment.expiresAt.getTime(), this.clock.nowMs() + 3 * 86_400_000)).toISOString();
        const account = {
          bank: "TEST BANK",
          accountNumber: `X${String(this.clock.nowMs()).slice(-10)}${Math.floor(Math.random() * 90 + 10)}`,
          holderName: "PGB TEST",
          dueDate,
        };
        return this.setStatus(payment, "WAITING_FOR_DEPOSIT", ["OPEN"], { account: JSON.stringify(account) });
      }
      case "deposit":
        return this.setStatus(payment, "PAID", ["WAITING_FOR_DEPOSIT"]);
    }
  }

  async expire(tenant: string, id: string): Promise<void> {
    await this.get(tenant, id);
    const payment = (await this.stored(id))!;
    if (payment.status === "OPEN" || payment.status === "WAITING_FOR_DEPOSIT") await this.setStatus(payment, "EXPIRED", [payment.status]);
  }

  /** The refund sent with this idempotency key, if the fake PG ever received it. */
  async findRefund(
    tenant: string,
    idempotencyKey: string,
  ): Promise<{ refundId: string; paymentId: string; amountMinor: bigint; status: string; failureCode: string | null } | undefined> {
    const row = await this.db.selectFrom("test_pg_refunds").selectAll().where("idempotency_key", "=", `${tenant}:${idempotencyKey}`).executeTakeFirst();
    return row && { refundId: row.id, paymentId: row.payment_id, amountMinor: BigInt(row.amount), status: row.status, failureCode: row.failure_code };
  }

  /** Refunds are idempotent on the key: a resent refund answers the first result. */
  async refund(tenant: string, id: string, amountMinor: bigint, idempotencyKey: string): Promise<{ refundId: string; payment: TestPgPayment }> {
    try {
      return await this.refundOnce(tenant, id, amountMinor, idempotencyKey);
    } catch (error) {
      // Two requests with the same key at once: answer the one stored first, as an idempotent PG does.
      if (!(error instanceof Error && "code" in error && error.code === "23505")) throw error;
      return this.refundOnce(tenant, id, amountMinor, idempotencyKey);
    }
  }

  /**
   * One statement: the earlier refund under this key, or the payment's `refunded` raised (the UPDATE
   * takes the row lock and re-checks the bound, so concurrent refunds never exceed the amount) with the
   * refund row inserted from it, or the payment as it stands when refused. A unique violation on the
   * key (the same key at once) rolls it all back; `refund` then answers the one stored first.
   */
  private async refundOnce(tenant: string, id: string, amountMinor: bigint, idempotencyKey: string): Promise<{ refundId: string; payment: TestPgPayment }> {
    const key = `${tenant}:${idempotencyKey}`;
    const amount = amountMinor.toString();
    const refundId = newId("tprf", this.clock);
    const now = this.clock.now();
    type Answer = TestPgTables["test_pg_payments"] & {
      outcome: "refunded" | "earlier" | "refused";
      refund_id: string | null;
      refund_payment_id: string | null;
      refund_amount: string | null;
    };
    // Prepared on PostgreSQL (storage/named-statements.ts): every row reached by its key, columns by name.
    const query = sql<Answer>`
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
      WHERE p.id = ${id} AND p.tenant = ${tenant} AND NOT EXISTS (SELECT 1 FROM earlier) AND NOT EXISTS (SELECT 1 FROM raised)`;
    const compiled = query.compile(this.db);
    registerNamedStatement(compiled.sql);
    const { rows } = await this.db.executeQuery(compiled);
    const row = rows[0];
    if (row === undefined) throw new TestPgError("NOT_FOUND", `no TEST payment ${id}`, 404);
    const { outcome, refund_id, refund_payment_id, refund_amount, ...stored } = row;
    if (outcome === "refunded") return { refundId: refund_id!, payment: this.toPayment(stored) };
    if (outcome === "earlier") {
      if (BigInt(refund_amount!) !== amountMinor || refund_payment_id !== id)
        throw new TestPgError("IDEMPOTENCY_MISMATCH", "idempotency key reused with other parameters", 422);
      return { refundId: refund_id!, payment: this.toPayment(stored) };
    }
    const payment = this.toPayment(stored);
    if (payment.status !== "PAID") throw new TestPgError("NOT_REFUNDABLE", `payment is ${payment.status}`, 409);
    if (amountMinor <= 0n || payment.refundedMinor + amountMinor > payment.amountMinor) {
      throw new TestPgError("REFUND_EXCEEDS_PAYMENT", "refund exceeds what is left of the payment", 422);
    }
    // Refused under the lock by a row that changed after this statement's snapshot: the payment is
    // refunded, or no longer PAID, by now; ask again on a fresh snapshot.
    return this.refundOnce(tenant, id, amountMinor, idempotencyKey);
  }

  /** Every refund of a payment, PGB's and the dashboard's, oldest first. */
  async listRefunds(tenant: string, id: string): Promise<TestPgRefund[]> {
    await this.get(tenant, id);
    const rows = await this.db.selectFrom("test_pg_refunds").selectAll().where("payment_id", "=", id).orderBy("created_at").orderBy("id").execute();
    return rows.map((row) => ({
      refundId: row.id,
      paymentId: row.payment_id,
      amountMinor: BigInt(row.amount),
      status: row.status === "FAILED" ? "FAILED" : "SUCCEEDED",
      failureCode: row.failure_code,
      merchantKey: row.idempotency_key.startsWith(`${tenant}:`) ? row.idempotency_key.slice(tenant.length + 1) : null,
    }));
  }

  /** The merchant refunds in the TEST PG's "dashboard", not through PGB. Sends a refund webhook. */
  async dashboardRefund(id: string, amountMinor: bigint): Promise<string> {
    const payment = await this.stored(id);
    if (payment === undefined) throw new TestPgError("NOT_FOUND", `no TEST payment ${id}`, 404);
    const { refundId } = await this.refund(payment.tenant, id, amountMinor, `dashboard-${randomUUID()}`);
    await this.db
      .updateTable("test_pg_refunds")
      .set({ idempotency_key: `dashboard:${refundId}` })
      .where("id", "=", refundId)
      .execute();
    this.webhooks.send(payment, { type: "refund.updated", refundId });
    return refundId;
  }

  /**
   * A refund that had succeeded fails afterwards (the card account was closed, say): the money is back
   * with the merchant, and the TEST PG says so in a refund webhook.
   */
  async failRefundAfterSuccess(refundId: string, failureCode = "CARD_ACCOUNT_CLOSED"): Promise<void> {
    const refund = await this.db.selectFrom("test_pg_refunds").selectAll().where("id", "=", refundId).executeTakeFirst();
    if (refund === undefined || refund.status !== "SUCCEEDED") throw new TestPgError("INVALID_STATE", `refund ${refundId} cannot fail now`, 409);
    await this.storage.transaction(async (trx) => {
      await trx.updateTable("test_pg_refunds").set({ status: "FAILED", failure_code: failureCode }).where("id", "=", refundId).execute();
      await trx
        .updateTable("test_pg_payments")
        .set({ refunded: sql`refunded - ${String(refund.amount)}::bigint`, updated_at: this.clock.now() })
        .where("id", "=", refund.payment_id)
        .execute();
    });
    const payment = await this.findById(refund.payment_id);
    if (payment !== undefined) this.webhooks.send(payment, { type: "refund.updated", refundId });
  }

  private async setStatus(payment: TestPgPayment, to: TestPgStatus, from: TestPgStatus[], extra: { account?: string } = {}): Promise<TestPgPayment> {
    const row = await this.db
      .updateTable("test_pg_payments")
      .set({ status: to, updated_at: this.clock.now(), ...extra })
      .where("id", "=", payment.id)
      .where("status", "in", from)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new TestPgError("INVALID_STATE", `payment is ${payment.status}; cannot become ${to}`, 409);
    const updated = this.toPayment(row);
    this.webhooks.send(updated);
    return updated;
  }

  /** PGB's browser return for this payment: the same place PGB's connector would tell a real PG. */
  private returnUrl(merchantReference: string): string {
    return `${this.publicUrl}/PGBReturn/test/return/${encodeURIComponent(merchantReference)}`;
  }

  private webhookUrl(tenant: string): string {
    return `${this.publicUrl}/PGBReturn/test/webhook/${encodeURIComponent(tenant)}`;
  }

  private fromClaims(id: string, c: CheckoutClaims): TestPgPayment {
    const expiresAt = new Date(c.e);
    return {
      id,
      tenant: c.t,
      merchantReference: c.r,
      amountMinor: BigInt(c.a),
      currency: c.c,
      payType: c.p,
      description: c.d,
      // Nobody has acted on it: open until it expires (read-only; the record is written on first action).
      status: expiresAt.getTime() <= this.clock.nowMs() ? "EXPIRED" : "OPEN",
      returnUrl: this.returnUrl(c.r),
      webhookUrl: this.webhookUrl(c.t),
      refundedMinor: 0n,
      account: null,
      expiresAt,
      stored: false,
    };
  }

  private toPayment(row: TestPgTables["test_pg_payments"]): TestPgPayment {
    return {
      stored: true,
      id: row.id,
      tenant: row.tenant,
      merchantReference: row.merchant_reference,
      amountMinor: BigInt(row.amount),
      currency: row.currency,
      payType: row.pay_type,
      description: row.description,
      status: row.status as TestPgStatus,
      // Derived, not read back: a row written from an older checkout id may name another site.
      returnUrl: this.returnUrl(row.merchant_reference),
      webhookUrl: this.webhookUrl(row.tenant),
      refundedMinor: BigInt(row.refunded),
      account: (row.account as TestPgPayment["account"]) ?? null,
      expiresAt: new Date(row.expires_at),
    };
  }
}
