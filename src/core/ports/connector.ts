/**
 * The port between PGB's core and one payment gateway. The core talks to this interface only and
 * imports no connector; a connector implements it (src/connectors/<pg>/) and declares what its PG can
 * do (capabilities.ts), which the configuration is checked against at start.
 *
 * Amounts cross this boundary as Money (integer minor units + currency); each connector converts to
 * its PG's unit once, in its own transformers.
 */
import type { Money } from "../money.ts";
import type { PayType } from "../pay-type.ts";
import type { PaymentId, PgTransactionId, RefundId } from "../ids.ts";

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
  pgTransactionId: PgTransactionId;
  status: PgPaymentStatus;
  /** The amount the PG will capture / captured, in its currency. */
  amount: Money;
  /** PGB's payment id as the PG echoes it back (metadata, merchant reference, orderId...). */
  paymentReference: string;
  failure?: { code: string; message: string };
  virtualAccount?: VirtualAccount;
  /** Connector-private facts worth keeping with the payment (a PG's secret for callbacks, say). */
  details?: Record<string, unknown>;
  /**
   * The customer finished at the PG, but the money moves only when PGB completes the payment
   * (handleReturn), and the customer never came back to make PGB do it: the core completes a
   * still-open attempt from a webhook or the reconciler.
   */
  needsCompletion?: true;
  /**
   * PENDING because the PG has taken the payment and is settling it (an eCheck clearing, a risk
   * review), not because the customer is still deciding: PGB waits for the PG instead of expiring it.
   */
  settling?: true;
  /**
   * The customer must go back to the PG to finish (another way to pay after a decline the PG lets
   * the customer recover from): PGB sends the returning browser here instead of to the host.
   */
  resumeUrl?: string;
}

export interface CheckoutInput {
  paymentId: PaymentId;
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
  pgTransactionId: PgTransactionId;
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
  | { kind: "payment"; eventId: string; pgTransactionId?: PgTransactionId; paymentReference?: PaymentId; unsigned?: true }
  | { kind: "refund"; eventId: string; pgTransactionId?: PgTransactionId; paymentReference?: PaymentId; pgRefundId?: string }
  /** Genuine but nothing PGB acts on (another product's event, an unsupported type). */
  | { kind: "ignored"; eventId: string; reason: string }
  /** Signature missing, wrong or stale; or the body is not the PG's shape. */
  | { kind: "rejected"; reason: string };

/** A checkout PGB created at the PG. */
export interface CheckoutRef {
  pgTransactionId: PgTransactionId;
  /** PGB's payment id. */
  paymentReference: PaymentId;
}

/** A payment as PGB knows it at the PG, with the connector-private facts kept beside it. */
export interface PaymentRef extends CheckoutRef {
  details?: Record<string, unknown>;
}

/** The customer's browser came back to PGB's return URL for this payment. */
export interface ReturnInput {
  /** Null when the PG names its transaction only on the return (Toss's paymentKey). */
  pgTransactionId: PgTransactionId | null;
  paymentReference: PaymentId;
  amount: Money;
  query: Record<string, string>;
  details?: Record<string, unknown>;
}

/** A refund PGB sent, or may have sent. */
export interface RefundRef extends PaymentRef {
  /** PGB's refund row id. */
  idempotencyKey: RefundId;
  pgRefundId?: string;
  amount: Money;
}

export interface RefundInput {
  pgTransactionId: PgTransactionId;
  paymentReference: PaymentId;
  amount: Money;
  /** PGB's refund row id: stable across retries, so a resent call never refunds twice. */
  idempotencyKey: RefundId;
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
    /** The PG's own message, as it gave it (not parsed back out of `message`). */
    readonly pgMessage?: string,
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
  fetchPayment(ref: PaymentRef): Promise<PgPayment>;

  /**
   * The customer's browser came back to PGB's return URL with `query`. Do whatever the PG requires
   * (Toss: confirm; Stripe: nothing) and answer what the PG now says. The core compares the answer
   * with its record before any transition.
   */
  handleReturn(input: ReturnInput): Promise<PgPayment>;

  /** Refund part or all of a captured payment. */
  refund(input: RefundInput): Promise<RefundOutcome>;

  /** Make an unpaid checkout unpayable (superseded or abandoned). Idempotent. */
  expireCheckout(ref: CheckoutRef): Promise<void>;

  /**
   * Optional. Called by the reconciler for a refund whose outcome PGB does not know (the refund call
   * timed out, the process died mid-call, or the PG settles refunds later). Answers what the PG
   * records for the refund sent with `idempotencyKey` (PGB's refund row id); NOT_FOUND only when
   * the PG is certain it never received it, which lets PGB release the reserved amount. A connector
   * without this method gets `refund` re-sent with the same idempotency key instead.
   */
  lookupRefund?(ref: RefundRef): Promise<RefundLookup>;
  /**
   * Optional. Every refund the PG records for this payment. With it PGB notices a refund made outside
   * it (a dashboard refund) and a refund the PG failed after reporting it succeeded.
   */
  listRefunds?(ref: PaymentRef): Promise<PgRefund[]>;
}
