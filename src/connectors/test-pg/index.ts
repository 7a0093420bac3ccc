/**
 * The TEST connector: PGB's connector for its built-in fake PG. Behaves like a real connector: it
 * verifies the fake PG's signed webhooks and always answers from the fake PG's own records.
 */
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { z } from "zod";
import { isCurrencyCode } from "../../core/currency.ts";
import { ConnectorError, type Connector, type PgPayment, type PgRefund, type RefundLookup, type WebhookAction } from "../../core/ports/connector.ts";
import { type ConnectorDeps, type ConnectorFactory } from "../factory.ts";
import type { Money } from "../../core/money.ts";
import { FakeTestPg, TestPgError } from "./fake-pg.ts";
import { testPgMigrations, type TestPgPayment, type TestPgTables } from "./records.ts";
import { connectorStorageOf } from "../../storage/connector-storage.ts";
import { registerCheckoutPages } from "./checkout-page.ts";
import { ConfigError } from "../../config/config.ts";
import { isLoopbackUrl } from "../../config/public-exposure.ts";
import { toPgStatus, WebhookEventSchema } from "./wire.ts";
import { TEST_PG_CAPABILITIES } from "./capabilities.ts";
import { classifyPgFailure } from "../kit/pg-failure.ts";
import { brand, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

export const SettingsSchema = z.object({
  /** The secret the fake PG signs its webhooks with (Standard Webhooks, whsec_…). */
  webhookSecret: z.string().regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, "a whsec_ secret"),
  /** For tests of lost or duplicated webhooks. */
  webhookDelivery: z.enum(["send", "drop", "duplicate"]).default("send"),
  /**
   * The TEST PG takes no real money but marks orders paid: on a publicUrl that is not loopback PGB
   * refuses to start with it unless the tenant says so here (a staging host, say).
   */
  allowPublicUrl: z.boolean().default(false),
});
export type Settings = z.infer<typeof SettingsSchema>;

/**
 * One fake PG per database: it is a PG, and the tenants are its merchants. Kept beside the database
 * handle so that several PGB apps in one process (tests) each get their own.
 */
const fakePgs = new WeakMap<object, { fake: FakeTestPg; settings: Map<string, Settings> }>();

function fakePgFor(deps: ConnectorDeps): { fake: FakeTestPg; settings: Map<string, Settings> } {
  let entry = fakePgs.get(deps.storage);
  if (entry === undefined) {
    const settings = new Map<string, Settings>();
    const fake = new FakeTestPg(
      deps.storage.forTables<TestPgTables>(),
      deps.logger,
      deps.publicUrl,
      (tenant) => {
        const s = settings.get(tenant);
        return s && { secret: s.webhookSecret, delivery: s.webhookDelivery };
      },
      deps.clock,
    );
    entry = { fake, settings };
    fakePgs.set(deps.storage, entry);
  }
  return entry;
}

export const testConnector: ConnectorFactory<typeof SettingsSchema> = {
  pg: "TEST",
  settingsSchema: SettingsSchema,
  // Its events name a payment and a status: a few hundred bytes.
  maxWebhookBytes: 16 * 1024,
  capabilities: TEST_PG_CAPABILITIES,
  migrations: testPgMigrations,

  create(settings, { tenant, deps }) {
    if (!settings.allowPublicUrl && !isLoopbackUrl(deps.publicUrl)) {
      throw new ConfigError(
        `config tenants.${tenant}.pgs.TEST.allowPublicUrl: the TEST PG marks orders paid without money; set it to true to use it at ${deps.publicUrl} (not a loopback address), or route this tenant to a real PG`,
      );
    }
    const { fake, settings: byTenant } = fakePgFor(deps);
    byTenant.set(tenant, settings);
    return new TestConnector(tenant, settings, fake);
  },

  registerRoutes(app, deps) {
    registerCheckoutPages(app, fakePgFor(deps).fake, deps.publicUrl);
  },
};

/** Test hook: the fake PG behind a database, to act as its customer (the conformance battery). */
export function testPgFor(db: object): FakeTestPg | undefined {
  return fakePgs.get(connectorStorageOf(db))?.fake;
}

/** Test hook: the fake PG behind a database, to change webhook delivery mid-test. */
export function testPgSettings(db: object, tenant: string): Settings | undefined {
  return fakePgs.get(connectorStorageOf(db))?.settings.get(tenant);
}

class TestConnector implements Connector {
  readonly pg = "TEST";
  readonly #webhook: Webhook;

  constructor(
    private readonly tenant: string,
    settings: Settings,
    private readonly fake: FakeTestPg,
  ) {
    this.#webhook = new Webhook(settings.webhookSecret);
  }

  async createCheckout(input: Parameters<Connector["createCheckout"]>[0]) {
    const created = await call(() =>
      this.fake.create({
        tenant: this.tenant,
        merchantReference: input.paymentId,
        idempotencyKey: input.idempotencyKey,
        amountMinor: input.amount.minor,
        currency: input.amount.currency,
        payType: input.payType,
        description: input.description,
        expiresAt: input.expiresAt,
      }),
    );
    return { pgTransactionId: brand<PgTransactionId>(created.id), checkoutUrl: this.fake.checkoutUrl(created.id) };
  }

  async parseWebhook(input: Parameters<Connector["parseWebhook"]>[0]): Promise<WebhookAction> {
    const headers = {
      "webhook-id": header(input.headers["webhook-id"]),
      "webhook-timestamp": header(input.headers["webhook-timestamp"]),
      "webhook-signature": header(input.headers["webhook-signature"]),
    };
    let verified: unknown;
    try {
      verified = this.#webhook.verify(input.rawBody.toString("utf8"), headers);
    } catch (error) {
      if (error instanceof WebhookVerificationError) return { kind: "rejected", reason: `signature: ${error.message}` };
      return { kind: "rejected", reason: "body is not JSON" };
    }
    const event = WebhookEventSchema.safeParse(verified);
    if (!event.success) return { kind: "rejected", reason: "not a TEST PG event" };
    const about = {
      eventId: event.data.id,
      pgTransactionId: brand<PgTransactionId>(event.data.data.paymentId),
      paymentReference: brand<PaymentId>(event.data.data.merchantReference),
    };
    if (event.data.type === "refund.updated")
      return { kind: "refund", ...about, ...(event.data.data.refundId ? { pgRefundId: event.data.data.refundId } : {}) };
    return { kind: "payment", ...about };
  }

  async fetchPayment(ref: { pgTransactionId: string }): Promise<PgPayment> {
    return toPgPayment(await call(() => this.fake.get(this.tenant, ref.pgTransactionId)));
  }

  async handleReturn(input: { pgTransactionId: string | null; paymentReference: string }): Promise<PgPayment> {
    // The TEST PG needs no confirm step: the browser's query is ignored and the PG's record decides.
    if (input.pgTransactionId === null) throw new ConnectorError("fatal", `payment ${input.paymentReference} has no TEST transaction`);
    return this.fetchPayment({ pgTransactionId: input.pgTransactionId });
  }

  async refund(input: Parameters<Connector["refund"]>[0]) {
    const result = await call(() => this.fake.refund(this.tenant, input.pgTransactionId, input.amount.minor, input.idempotencyKey));
    return { status: "SUCCEEDED" as const, pgRefundId: result.refundId };
  }

  async expireCheckout(ref: { pgTransactionId: string }): Promise<void> {
    await call(() => this.fake.expire(this.tenant, ref.pgTransactionId));
  }

  async listRefunds(ref: { pgTransactionId: string }): Promise<PgRefund[]> {
    const payment = await call(() => this.fake.get(this.tenant, ref.pgTransactionId));
    if (!isCurrencyCode(payment.currency)) throw new ConnectorError("fatal", `TEST payment ${payment.id} has currency ${payment.currency}`);
    const currency = payment.currency;
    return (await call(() => this.fake.listRefunds(this.tenant, ref.pgTransactionId))).map((r) => ({
      pgRefundId: r.refundId,
      amount: { minor: r.amountMinor, currency },
      status: r.status,
      ...(r.status === "FAILED" ? { failure: { code: r.failureCode ?? "FAILED", message: "the TEST PG failed the refund after it had succeeded" } } : {}),
      ...(r.merchantKey === null ? {} : { pgbRefundId: r.merchantKey }),
    }));
  }

  async lookupRefund(ref: { pgTransactionId: string; idempotencyKey: string; amount: Money }): Promise<RefundLookup> {
    const found = await call(() => this.fake.findRefund(this.tenant, ref.idempotencyKey));
    if (found === undefined) return { status: "NOT_FOUND" };
    if (found.paymentId !== ref.pgTransactionId || found.amountMinor !== ref.amount.minor) {
      throw new ConnectorError("fatal", `TEST refund ${found.refundId} does not match the refund PGB asked about`);
    }
    return found.status === "FAILED"
      ? { status: "FAILED", pgRefundId: found.refundId, code: found.failureCode ?? "FAILED", message: "the TEST PG failed the refund" }
      : { status: "SUCCEEDED", pgRefundId: found.refundId };
  }
}

function toPgPayment(p: TestPgPayment): PgPayment {
  if (!isCurrencyCode(p.currency)) throw new ConnectorError("fatal", `TEST payment ${p.id} has currency ${p.currency}`);
  const status = toPgStatus(p.status, p.refundedMinor, p.amountMinor);
  return {
    pgTransactionId: brand<PgTransactionId>(p.id),
    status,
    amount: { minor: p.amountMinor, currency: p.currency },
    paymentReference: p.merchantReference,
    ...(status === "FAILED" || status === "EXPIRED" ? { failure: { code: p.status, message: failureMessage(p.status) } } : {}),
    ...(p.account ? { virtualAccount: p.account } : {}),
  };
}

function failureMessage(status: TestPgPayment["status"]): string {
  if (status === "CANCELLED_BY_CUSTOMER") return "the customer cancelled on the checkout page";
  if (status === "EXPIRED") return "the checkout expired";
  return "the payment was declined";
}

/** The fake PG's errors become connector errors through the same rule as a real PG's HTTP errors. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof TestPgError) {
      // The fake PG answers its 5xx before acting (fault injection), so those are unprocessed.
      const meaning = error.httpStatus >= 500 ? "unprocessed" : "declined";
      throw classifyPgFailure({ kind: "answered", meaning, httpStatus: error.httpStatus, pgCode: error.code, pgMessage: error.message }, true, "TEST PG");
    }
    throw error;
  }
}

function header(value: string | string[] | undefined): string {
  return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
}
