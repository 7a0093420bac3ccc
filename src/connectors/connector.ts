/**
 * The contract between PGB's core and one payment gateway. The core never imports a PG's code: it
 * talks to this interface only, and a connector never touches PGB's database. Adding a PG means one
 * folder under src/connectors/ and one line in registry.ts.
 *
 * Amounts cross this boundary as Money (integer minor units + currency); each connector converts to
 * its PG's unit once, in its own transformers.
 */
import type { FastifyInstance } from "fastify";
import type { Migration } from "kysely";
import type { Logger } from "pino";
import type { z } from "zod";
import type { CurrencyCode } from "../core/currency.ts";
import type { Money } from "../core/money.ts";
import type { PayType } from "../core/pay-type.ts";
import type { Db } from "../storage/database.ts";

/** What a PG says about a payment when PGB asks it (never what a webhook body claims). */
export type PgPaymentStatus =
  /** Created, the customer has not finished. Also the answer for anything ambiguous. */
  | "PENDING"
  /** Virtual account issued, money not yet deposited. */
  | "WAITING_FOR_DEPOSIT"
  | "PAID"
  | "FAILED"
  | "EXPIRED"
  /** Paid and then refunded in part or whole at the PG. */
  | "PARTIALLY_REFUNDED"
  | "REFUNDED";

export interface VirtualAccount {
  bank: string;
  accountNumber: string;
  holderName: string;
  /** ISO-8601. */
  dueDate: string;
}

export interface PgPayment {
  pgTransactionId: string;
  status: PgPaymentStatus;
  /** The amount the PG will capture / captured, in its currency. */
  amount: Money;
  /** PGB's payment id as the PG echoes it back (metadata, merchant reference, orderId...). */
  paymentReference: string;
  failure?: { code: string; message: string };
  virtualAccount?: VirtualAccount;
  /** Connector-private facts worth keeping with the payment (a PG's secret for callbacks, say). */
  details?: Record<string, unknown>;
}

export interface CheckoutInput {
  paymentId: string;
  tenant: string;
  orderId: number;
  joinerId: number;
  amount: Money;
  payType: PayType;
  nationCode: string;
  description: string;
  /** Where the PG sends the customer's browser back: PGB's return URL for this payment. */
  returnUrl: string;
  /** Where the PG's webhooks for this tenant land. */
  webhookUrl: string;
  expiresAt: Date;
  idempotencyKey: string;
}

export interface CheckoutCreated {
  pgTransactionId: string;
  /** Where the host sends the customer's browser (the PG's page, or a PGB page with the PG's SDK). */
  checkoutUrl: string;
}

export interface WebhookInput {
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
}

/** A verified webhook, reduced to what the core needs. The core re-reads the payment before acting. */
export type WebhookAction =
  /**
   * `unsigned`: nothing proves the PG sent it (Toss signs no webhook); PGB then reads the payment from
   * the PG at most once per short window, so forged callbacks cannot spend the merchant's API quota.
   */
  | { kind: "payment"; eventId: string; pgTransactionId?: string; paymentReference?: string; unsigned?: true }
  | { kind: "refund"; eventId: string; pgTransactionId?: string; paymentReference?: string; pgRefundId?: string }
  /** Genuine but nothing PGB acts on (another product's event, an unsupported type). */
  | { kind: "ignored"; eventId: string; reason: string }
  /** Signature missing, wrong or stale; or the body is not the PG's shape. */
  | { kind: "rejected"; reason: string };

export interface RefundInput {
  pgTransactionId: string;
  paymentReference: string;
  amount: Money;
  /** PGB's refund row id: stable across retries, so a resent call never refunds twice. */
  idempotencyKey: string;
  reason: string;
  /** Bank account to pay a deposited virtual account back into, where the PG needs one. */
  refundAccount?: { bank: string; accountNumber: string; holderName: string };
  details?: Record<string, unknown>;
}

export type RefundOutcome =
  | { status: "SUCCEEDED"; pgRefundId: string }
  | { status: "PENDING"; pgRefundId: string }
  | { status: "FAILED"; pgRefundId?: string; code: string; message: string };

/** One refund as the PG records it, whoever made it (PGB, or someone in the PG's dashboard). */
export interface PgRefund {
  pgRefundId: string;
  amount: Money;
  status: "SUCCEEDED" | "PENDING" | "FAILED";
  failure?: { code: string; message: string };
  /** PGB's refund row id, when PGB sent this refund (the PG echoes the idempotency key or metadata). */
  pgbRefundId?: string;
}

/** What a PG knows of a refund PGB sent, or may have sent. */
export type RefundLookup = RefundOutcome | { status: "NOT_FOUND" };

/**
 * How a PG call failed. `declined`: the PG said no (nothing happened). `retryable`: it did not
 * happen and may be tried again. `indeterminate`: the call may or may not have taken effect (a
 * time-out after sending) and the reconciler must ask the PG. `fatal`: a bug or misconfiguration.
 */
export type ConnectorErrorClass = "declined" | "retryable" | "indeterminate" | "fatal";

export class ConnectorError extends Error {
  override name = "ConnectorError";
  constructor(
    readonly errorClass: ConnectorErrorClass,
    message: string,
    readonly pgCode?: string,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

export interface Connector {
  readonly pg: string;

  /** PayStart: create the PG's checkout for this payment. Must be idempotent on `idempotencyKey`. */
  createCheckout(input: CheckoutInput): Promise<CheckoutCreated>;

  /** Verify a webhook's authenticity (where the PG signs) and normalise it. Never throws for bad input. */
  parseWebhook(input: WebhookInput): Promise<WebhookAction>;

  /** Ask the PG for the payment's current truth. */
  fetchPayment(ref: { pgTransactionId: string; paymentReference: string; details?: Record<string, unknown> }): Promise<PgPayment>;

  /**
   * The customer's browser came back to PGB's return URL with `query`. Do whatever the PG requires
   * (Toss: confirm; Stripe: nothing) and answer what the PG now says. The core compares the answer
   * with its record before any transition.
   */
  handleReturn(input: { pgTransactionId: string | null; paymentReference: string; amount: Money; query: Record<string, string>; details?: Record<string, unknown> }): Promise<PgPayment>;

  /** Refund part or all of a captured payment. */
  refund(input: RefundInput): Promise<RefundOutcome>;

  /** Make an unpaid checkout unpayable (superseded or abandoned). Idempotent. */
  expireCheckout(ref: { pgTransactionId: string; paymentReference: string }): Promise<void>;

  /**
   * Optional. Called by the reconciler for a refund whose outcome PGB does not know (the refund call
   * timed out, the process died mid-call, or the PG settles refunds later). Answers what the PG
   * records for the refund sent with `idempotencyKey` (PGB's refund row id); NOT_FOUND only when
   * the PG is certain it never received it, which lets PGB release the reserved amount. A connector
   * without this method gets `refund` re-sent with the same idempotency key instead.
   */
  lookupRefund?(ref: {
    pgTransactionId: string;
    paymentReference: string;
    idempotencyKey: string;
    pgRefundId?: string;
    amount: Money;
    details?: Record<string, unknown>;
  }): Promise<RefundLookup>;
  /**
   * Optional. Every refund the PG records for this payment. With it PGB notices a refund made outside
   * it (a dashboard refund) and a refund the PG failed after reporting it succeeded.
   */
  listRefunds?(ref: { pgTransactionId: string; paymentReference: string; details?: Record<string, unknown> }): Promise<PgRefund[]>;
}

export interface ConnectorDeps {
  db: Db;
  logger: Logger;
  publicUrl: string;
}

/** One PG: validates its per-tenant settings and builds a connector per tenant. */
export interface ConnectorFactory<S extends z.ZodType = z.ZodType> {
  readonly pg: string;
  readonly settingsSchema: S;
  /**
   * The largest webhook body this PG really sends, in bytes. PGB reads no more from anyone posting
   * to this PG's webhook path (answers 413), so an anonymous caller cannot make it buffer or store more.
   */
  readonly maxWebhookBytes: number;
  /** What the PG can sell, for `pgb config check`; absent means no limit PGB knows of. */
  readonly capabilities?: { readonly currencies?: readonly CurrencyCode[]; readonly payTypes?: readonly PayType[] };
  create(settings: z.infer<S>, context: { tenant: string; deps: ConnectorDeps }): Connector;
  /** Tables of the connector's own (a fake PG's records). Named `<pg>-<n>`. */
  readonly migrations?: Record<string, Migration>;
  /** HTTP routes of the connector's own (a PGB-hosted checkout page). Registered once at start. */
  registerRoutes?(app: FastifyInstance, deps: ConnectorRouteDeps<z.infer<S>>): void | Promise<void>;
}

export interface ConnectorRouteDeps<Settings> extends ConnectorDeps {
  /** The tenants that configured this PG, with their validated settings. */
  tenantsWithSettings(): Array<{ tenant: string; settings: Settings }>;
  /**
   * Hands a webhook that arrived on a connector-owned path (Stripe's legacy /PGBReturn/WebHook, say)
   * to the core's durable intake for `tenant`, exactly as the generic per-tenant path does. Answers
   * the HTTP status and body to send back to the PG.
   */
  acceptWebhook(tenant: string, input: WebhookInput): Promise<{ status: number; body: unknown }>;
}
