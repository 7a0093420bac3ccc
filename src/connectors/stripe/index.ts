/**
 * The Stripe connector: Checkout Sessions through the official `stripe` SDK. PayStart creates a
 * session, the customer pays on Stripe's page, webhooks (signed, verified against the raw body) tell
 * PGB to re-read the session, and refunds go against the session's PaymentIntent.
 *
 * Every POST carries an idempotency key from PGB (the payment attempt's, the refund row's), so the
 * SDK's own network retries and PGB's retries after a crash can never charge or refund twice.
 */
import type { FastifyInstance } from "fastify";
import type Stripe from "stripe";
import { z } from "zod";
import {
  ConnectorError,
  type CheckoutCreated,
  type CheckoutInput,
  type Connector,
  type PgPayment,
  type PgRefund,
  type RefundInput,
  type RefundLookup,
  type RefundOutcome,
  type WebhookAction,
  type WebhookInput,
} from "../../core/ports/connector.ts";
import type { Clock } from "../../core/ports/clock.ts";
import { type ConnectorFactory, type ConnectorRouteDeps } from "../factory.ts";
import {
  paymentIntentIdOf,
  toPgPayment,
  toStripeAmount,
  toRefundCreateParams,
  toPgRefund,
  toRefundOutcome,
  toSessionCreateParams,
  toWebhookAction,
} from "./transformers.ts";
import {
  PGB_METADATA,
  StripeCheckoutSessionSchema,
  StripeEventSchema,
  StripePaymentIntentSchema,
  StripeRefundSchema,
  type StripeCheckoutSession,
  type StripePaymentIntent,
  type StripeRefund,
} from "./wire.ts";
import { STRIPE_CAPABILITIES } from "./capabilities.ts";
import { createStripeClient, parseAnswer, stripeSdk, toConnectorError, type Method } from "./client.ts";
import { StripeSettingsSchema, type StripeSettings } from "./settings.ts";
import type { PgCallMetrics } from "../kit/pg-http-client.ts";
import { brand, type PgTransactionId } from "../../core/ids.ts";

export const STRIPE_PG = "STRIPE";

export { StripeSettingsSchema, type StripeSettings };

/** A Stripe connector for one tenant; it implements the optional refund lookup. */
export type StripeConnector = Connector & Required<Pick<Connector, "lookupRefund">>;

/** `stripe` defaults to a client made from `settings` when the connector first needs it (see stripeSdk in client.ts). */
export function createStripeConnector(settings: StripeSettings, tenant: string, clock: Clock, stripe?: Stripe, metrics?: PgCallMetrics): StripeConnector {
  let client = stripe;
  const sdk = (): Stripe => (client ??= createStripeClient(settings));
  const call = <T>(method: Method, what: string, run: () => Promise<T>): Promise<T> => callStripe(metrics, method, what, run);
  async function retrieveSession(id: string): Promise<StripeCheckoutSession> {
    const raw = await call("GET", "retrieve checkout session", () => sdk().checkout.sessions.retrieve(id));
    return parseAnswer(StripeCheckoutSessionSchema, raw, "GET", "checkout session");
  }

  async function retrieveIntent(id: string): Promise<StripePaymentIntent> {
    const raw = await call("GET", "retrieve payment intent", () => sdk().paymentIntents.retrieve(id, { expand: ["latest_charge"] }));
    return parseAnswer(StripePaymentIntentSchema, raw, "GET", "payment intent");
  }

  async function retrieveRefund(id: string): Promise<StripeRefund> {
    const raw = await call("GET", "retrieve refund", () => sdk().refunds.retrieve(id));
    return parseAnswer(StripeRefundSchema, raw, "GET", "refund");
  }

  /** The PaymentIntent to refund: from the payment's stored details, else from the session. */
  async function intentIdFor(ref: { pgTransactionId: string; details?: Record<string, unknown> }): Promise<string | null> {
    const stored = ref.details?.paymentIntentId;
    if (typeof stored === "string" && stored.startsWith("pi_")) return stored;
    return paymentIntentIdOf(await retrieveSession(ref.pgTransactionId));
  }

  async function createRefund(input: Pick<RefundInput, "amount" | "idempotencyKey" | "paymentReference">, intentId: string): Promise<StripeRefund> {
    const params = toRefundCreateParams(input, intentId, tenant);
    const raw = await call("POST", "create refund", () => sdk().refunds.create(params, { idempotencyKey: input.idempotencyKey }));
    return parseAnswer(StripeRefundSchema, raw, "POST", "refund");
  }

  /** The intent's refund PGB sent with `idempotencyKey` (its metadata names PGB's refund row). */
  async function findRefundByKey(intentId: string, idempotencyKey: string): Promise<StripeRefund | undefined> {
    const found = await call("GET", "list refunds", async () => {
      for await (const candidate of sdk().refunds.list({ payment_intent: intentId, limit: 100 })) {
        if (candidate.metadata?.[PGB_METADATA.refundId] === idempotencyKey) return candidate;
      }
      return undefined;
    });
    return found === undefined ? undefined : parseAnswer(StripeRefundSchema, found, "GET", "refund");
  }

  async function fetchPayment(ref: { pgTransactionId: string }): Promise<PgPayment> {
    const session = await retrieveSession(ref.pgTransactionId);
    const intentId = paymentIntentIdOf(session);
    const intent = intentId === null ? null : await retrieveIntent(intentId);
    return toPgPayment(session, intent);
  }

  return {
    pg: STRIPE_PG,

    async createCheckout(input: CheckoutInput): Promise<CheckoutCreated> {
      const params = toSessionCreateParams(input, clock.now());
      const raw = await call("POST", "create checkout session", () => sdk().checkout.sessions.create(params, { idempotencyKey: input.idempotencyKey }));
      const session = parseAnswer(StripeCheckoutSessionSchema, raw, "POST", "checkout session");
      if (session.url === null) {
        // Only a replay of a key whose session was since paid or expired answers without a URL.
        throw new ConnectorError("declined", `Stripe session ${session.id} is ${session.status ?? "not open"}`, "checkout_session_not_open");
      }
      return { pgTransactionId: brand<PgTransactionId>(session.id), checkoutUrl: session.url };
    },

    async parseWebhook(input: WebhookInput): Promise<WebhookAction> {
      const header = headerValue(input.headers, "stripe-signature");
      if (header === undefined) return { kind: "rejected", reason: "no Stripe-Signature header" };
      let event: unknown;
      try {
        // Default tolerance (300 s): a replayed old delivery fails here even with a valid signature.
        event = sdk().webhooks.constructEvent(input.rawBody, header, settings.webhookSecret.reveal());
      } catch (error) {
        return { kind: "rejected", reason: `signature verification failed: ${error instanceof Error ? error.message : "unknown error"}` };
      }
      const parsed = StripeEventSchema.safeParse(event);
      if (!parsed.success) return { kind: "rejected", reason: "the body is not a Stripe event" };
      return toWebhookAction(parsed.data, tenant);
    },

    fetchPayment,

    async handleReturn(input): Promise<PgPayment> {
      // The query is the browser's word: it only helps when PGB has no session id yet. The core
      // compares the answer's reference and amount with its record before any transition.
      const sessionId = input.pgTransactionId ?? input.query.session_id;
      if (sessionId === undefined || sessionId === "") {
        throw new ConnectorError("declined", "the browser returned without a Stripe session id", "missing_session_id");
      }
      return fetchPayment({ pgTransactionId: sessionId });
    },

    async refund(input: RefundInput): Promise<RefundOutcome> {
      const intentId = await intentIdFor(input);
      if (intentId === null) {
        throw new ConnectorError("declined", `Stripe session ${input.pgTransactionId} has no payment to refund`, "payment_intent_missing");
      }
      return toRefundOutcome(await createRefund(input, intentId));
    },

    /** Every refund of the session's payment, including ones made in Stripe's dashboard. */
    async listRefunds(ref): Promise<PgRefund[]> {
      const intentId = await intentIdFor(ref);
      if (intentId === null) return [];
      const all = await call("GET", "list refunds", async () => {
        const found: unknown[] = [];
        for await (const refund of sdk().refunds.list({ payment_intent: intentId, limit: 100 })) found.push(refund);
        return found;
      });
      return all.map((raw) => toPgRefund(parseAnswer(StripeRefundSchema, raw, "GET", "refund")));
    },

    async expireCheckout(ref): Promise<void> {
      try {
        await call("POST", "expire checkout session", () =>
          sdk().checkout.sessions.expire(ref.pgTransactionId, {}, { idempotencyKey: `pgb-expire-${ref.pgTransactionId}` }),
        );
      } catch (error) {
        if (!(error instanceof ConnectorError) || error.errorClass !== "declined") throw error;
        // Stripe refuses to expire a session that is no longer open: find out which way it went.
        const session = await retrieveSession(ref.pgTransactionId);
        if (session.status === "expired") return;
        if (session.status === "complete") {
          throw new ConnectorError("declined", `Stripe session ${session.id} is already complete and cannot be expired`, "checkout_session_complete");
        }
        throw error;
      }
    },

    /**
     * A refund PGB does not know the outcome of: pending at Stripe (known id), or sent without an
     * answer (time-out, crash). Never answers NOT_FOUND for a paid session: a refund still executing
     * at Stripe could appear after any lookup. Instead, when the intent lists no refund carrying
     * PGB's key, the refund is re-sent with that key, which Stripe replays if it did receive it, or
     * performs now, as the host asked and PGB reserved.
     */
    async lookupRefund(ref): Promise<RefundLookup> {
      if (ref.pgRefundId !== undefined) return toRefundOutcome(await retrieveRefund(ref.pgRefundId));
      const intentId = await intentIdFor(ref);
      // Without a captured payment Stripe cannot have refunded anything: that much is certain.
      if (intentId === null) return { status: "NOT_FOUND" };
      const listed = await findRefundByKey(intentId, ref.idempotencyKey);
      const refund = listed ?? (await createRefund(ref, intentId));
      if (refund.amount !== toStripeAmount(ref.amount)) {
        throw new ConnectorError("fatal", `Stripe refund ${refund.id} is for ${refund.amount}, not the amount PGB sent with key ${ref.idempotencyKey}`);
      }
      // A replayed answer is the first one; the refund may have settled since.
      return toRefundOutcome(refund.status === "succeeded" ? refund : await retrieveRefund(refund.id));
    },
  };
}

/** Runs one SDK call and turns whatever it throws into a ConnectorError. */
/** One SDK call: its failure through the shared rule, its outcome and latency in the per-PG metrics. */
async function callStripe<T>(metrics: PgCallMetrics | undefined, method: Method, what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const answer = await run();
    metrics?.observe({ pg: STRIPE_PG, operation: what, outcome: "ok", seconds: (performance.now() - started) / 1000 });
    return answer;
  } catch (error) {
    const failure = toConnectorError(error, method, what);
    metrics?.observe({ pg: STRIPE_PG, operation: what, outcome: failure.errorClass, seconds: (performance.now() - started) / 1000 });
    throw failure;
  }
}

function headerValue(headers: WebhookInput["headers"], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    if (typeof value === "string") return value;
    if (Array.isArray(value) && value.length === 1) return value[0];
    return undefined;
  }
  return undefined;
}

/** Finds the tenants whose signing secret verifies this delivery (several may share one Stripe account). */
export function tenantsVerifying(
  tenants: ReadonlyArray<{ tenant: string; settings: StripeSettings }>,
  rawBody: Buffer,
  header: string,
): Array<{ tenant: string; event: unknown }> {
  const verified: Array<{ tenant: string; event: unknown }> = [];
  for (const { tenant, settings } of tenants) {
    try {
      verified.push({ tenant, event: stripeSdk().webhooks.constructEvent(rawBody, header, settings.webhookSecret.reveal()) });
    } catch {
      // Not this tenant's secret (or not genuine at all): try the next.
    }
  }
  return verified;
}

const EventTenantSchema = z.object({ data: z.object({ object: z.object({ metadata: z.object({ [PGB_METADATA.tenant]: z.string() }) }) }) });

/** Of the tenants whose secret verified, the one the event's metadata names, else the first. */
export function chooseTenant(verified: ReadonlyArray<{ tenant: string; event: unknown }>): string | undefined {
  const named = verified.find((candidate) => {
    const parsed = EventTenantSchema.safeParse(candidate.event);
    return parsed.success && parsed.data.data.object.metadata[PGB_METADATA.tenant] === candidate.tenant;
  });
  return (named ?? verified[0])?.tenant;
}

const LEGACY_WEBHOOK_PATH = "/PGBReturn/WebHook";
/** Stripe's events are a few KiB (an object with its 50 metadata keys at most); 256 KiB leaves room. */
const WEBHOOK_BODY_LIMIT = 256 * 1024;

async function registerRoutes(app: FastifyInstance, deps: ConnectorRouteDeps<StripeSettings>): Promise<void> {
  // Encapsulated so the raw-body parser applies to this route only; signatures are over exact bytes.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));
    scope.post(LEGACY_WEBHOOK_PATH, async (request, reply) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = headerValue(request.headers, "stripe-signature");
      const tenant = header === undefined ? undefined : chooseTenant(tenantsVerifying(deps.tenantsWithSettings(), rawBody, header));
      if (tenant === undefined) {
        // Headers and body stay out of the log: the signature is a credential-derived value.
        deps.logger.warn(
          { path: LEGACY_WEBHOOK_PATH, bytes: rawBody.length, signed: header !== undefined },
          "Stripe webhook verified with no tenant's signing secret",
        );
        return reply.code(400).send({ error: "signature verification failed" });
      }
      const answer = await deps.acceptWebhook(tenant, { headers: request.headers, rawBody });
      return reply.code(answer.status).send(answer.body);
    });
  });
}

export const stripeConnector: ConnectorFactory<typeof StripeSettingsSchema> = {
  pg: STRIPE_PG,
  settingsSchema: StripeSettingsSchema,
  maxWebhookBytes: WEBHOOK_BODY_LIMIT,
  capabilities: STRIPE_CAPABILITIES,
  create(settings, context) {
    return createStripeConnector(settings, context.tenant, context.deps.clock, undefined, context.deps.pgCallMetrics);
  },
  registerRoutes,
};
