/**
 * Durable intake of a PG's webhook: verify and normalise it (the connector), store it raw and
 * deduplicated by the PG's event id, then act on it by re-reading the payment from the PG. A
 * webhook is answered 2xx only once it is safely stored; a failure while acting on it leaves it
 * stored as FAILED for a retry, never lost.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { WebhookInput } from "../ports/connector.ts";
import { connectorOf, type CoreDeps } from "../deps.ts";
import { brand, newId, type PaymentId, type PgTransactionId } from "../ids.ts";
import { findPayment, findPaymentByPgTransaction, type Payment } from "../../storage/payment-repository.ts";
import { refundsOf } from "../../storage/money-movement-repository.ts";
import { findStoredWebhook, insertRejectedWebhook, insertWebhook, markWebhook } from "../../storage/webhook-repository.ts";
import { WebhookIntake } from "../../storage/webhook-intake.ts";
import { settleRefund } from "./settle-refund.ts";
import { reconcilePgRefunds } from "./pg-refunds.ts";
import { settlePayment } from "./settle-payment.ts";
import { completeIfApproved } from "./complete-approved.ts";
import { ReadThrottle } from "../read-throttle.ts";

export type WebhookReply = { status: number; body: { received: boolean; duplicate?: boolean; error?: string } };

/**
 * Headers worth keeping for the audit trail: these, and those the PG declares its webhooks carry
 * (capabilities.webhookHeaders); anything else (cookies, auth) is not stored.
 */
const KEPT_HEADERS = ["content-type", "user-agent", "x-forwarded-for"];
const NO_HEADERS: readonly string[] = [];

/** The kept prefixes per PG's declared list, built once (the list is a PG's constant capability). */
const keptPrefixes = new WeakMap<readonly string[], readonly string[]>();

function keptHeaders(headers: WebhookInput["headers"], pgHeaders: readonly string[]): string {
  let prefixes = keptPrefixes.get(pgHeaders);
  if (prefixes === undefined) {
    prefixes = [...KEPT_HEADERS, ...pgHeaders];
    keptPrefixes.set(pgHeaders, prefixes);
  }
  // Runs on every webhook: no arrays of entries, no closure per header.
  const kept: Record<string, string | string[] | undefined> = Object.create(null);
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const lower = name.toLowerCase();
    for (const prefix of prefixes) {
      if (lower.startsWith(prefix)) {
        kept[name] = headers[name];
        break;
      }
    }
  }
  return JSON.stringify(kept);
}

/**
 * How much of a body PGB keeps when it need not keep it all: one that failed verification, one it
 * ignores, one nobody signed (its parsed action is what a retry uses). The SHA-256 and size of the
 * whole body are kept beside it, so a PG's support can still match it.
 */
export const BODY_EXCERPT_CHARS = 512;

function kept(raw: Buffer, whole: boolean): { body: string; body_sha256: string; body_bytes: number } {
  const text = raw.toString("utf8");
  // PostgreSQL text cannot hold U+0000.
  const body = (whole ? text : text.slice(0, BODY_EXCERPT_CHARS)).replaceAll("\u0000", "\uFFFD");
  return { body, body_sha256: createHash("sha256").update(raw).digest("hex"), body_bytes: raw.length };
}

export async function receiveWebhook(deps: CoreDeps, pg: string, tenant: string, input: WebhookInput): Promise<WebhookReply> {
  const connector = deps.connectorFor(tenant, pg);
  if (connector === undefined) return { status: 404, body: { received: false, error: "unknown PG or tenant" } };
  const headers = keptHeaders(input.headers, deps.capabilitiesOf(pg)?.webhookHeaders ?? NO_HEADERS);
  const action = await connector.parseWebhook(input);

  if (action.kind === "rejected") {
    deps.logger.warn({ pg, tenant, reason: action.reason, bytes: input.rawBody.length }, "rejected a webhook");
    await insertRejectedWebhook(deps.db, {
      pg,
      tenant,
      eventId: `rejected:${newId("evt", deps.clock)}`,
      headers,
      kept: kept(input.rawBody, false),
      reason: action.reason,
    });
    return { status: 400, body: { received: false, error: "webhook rejected" } };
  }

  const webhook = {
    pg,
    tenant,
    eventId: action.eventId,
    status: action.kind === "ignored" ? ("PROCESSED" as const) : ("RECEIVED" as const),
    headers,
    kept: kept(input.rawBody, action.kind !== "ignored" && !(action.kind === "payment" && action.unsigned === true)),
    error: action.kind === "ignored" ? action.reason : null,
    action: JSON.stringify(action),
    // Held under this process's lease until acted on: if the process dies first, another takes it over.
    claimToken: action.kind === "ignored" ? null : (deps.leaseToken ?? null),
  };
  if (action.kind === "ignored") {
    const stored = await insertWebhook(deps.db, webhook);
    return { status: 200, body: { received: true, ...(stored === undefined ? { duplicate: true } : {}) } };
  }
  // The payment the event names by PGB's own reference is read by the statement that stores it, which
  // stores the webhooks arriving meanwhile too.
  const reference = action.paymentReference;
  const stored =
    reference === undefined
      ? await insertWebhook(deps.db, webhook).then((id) => (id === undefined ? undefined : { id, payment: undefined }))
      : await webhookIntake(deps).store(webhook, reference);
  if (stored === undefined) return { status: 200, body: { received: true, duplicate: true } };

  // Acted on at once, in this request, with the action just parsed: no poll, no second read of the row.
  await processStoredWebhook(deps, stored.id, { pg, tenant, event_id: action.eventId, action }, stored.payment);
  return { status: 200, body: { received: true } };
}

/**
 * Acts on a stored webhook: finds PGB's payment and settles it from the PG's own answer. Never
 * throws: a failure is recorded on the row (FAILED, attempts + 1) for the webhook retrier.
 */
export async function processStoredWebhook(
  deps: CoreDeps,
  id: string,
  known?: StoredWebhook,
  /** The payment the event names, read with the webhook's insert (so not located again). */
  located?: Payment,
): Promise<"PROCESSED" | "FAILED"> {
  const row = known ?? (await findStoredWebhook(deps.db, id));
  if (row === undefined) return "FAILED";
  const action = StoredActionSchema.safeParse(row.action);
  if (!action.success) {
    await markWebhook(deps.db, id, "FAILED", "the stored webhook has no parsed action to act on");
    return "FAILED";
  }
  if (action.data.unsigned === true) {
    // Anyone can send an unsigned webhook naming a payment: read that payment from the PG at most
    // once per window, or forged callbacks would spend the merchant's API quota.
    const key = `${row.tenant}|${row.pg}|${action.data.paymentReference ?? action.data.pgTransactionId ?? ""}`;
    const retry = () =>
      void processStoredWebhook(deps, id).catch((error: unknown) =>
        deps.logger.warn({ err: (error as Error).message, webhookId: id }, "a coalesced webhook read failed; the retrier or the reconciler takes over"),
      );
    if (!unsignedReadThrottle(deps).take(key, retry)) {
      await markWebhook(deps.db, id, "PROCESSED", "coalesced: this payment was read from the PG moments ago; one more read follows when the window ends");
      return "PROCESSED";
    }
  }
  try {
    const payment = located ?? (await locate(deps, row.pg, action.data.pgTransactionId, action.data.paymentReference));
    if (payment === undefined || payment.tenant !== row.tenant) {
      await markWebhook(deps.db, id, "PROCESSED", "no PGB payment matches this event");
      return "PROCESSED";
    }
    // Nothing follows the settle for a payment event on an attempt that had captured nothing: the
    // webhook is marked PROCESSED by the settle's own statement when it takes the one-statement path.
    const settleIsLast = action.data.kind === "payment" && (payment.status === "READY" || payment.status === "WAITING_FOR_DEPOSIT");
    const marked = await actOn(deps, payment, { webhookId: id, eventId: row.event_id }, settleIsLast ? id : undefined);
    if (marked) return "PROCESSED";
    // Any event may carry a refund's news (Toss reports a virtual-account refund transfer in the
    // payment itself): settle the refunds still waiting on the PG. An attempt that had captured
    // nothing when this webhook came (READY, waiting for a deposit) has no refund to wait on.
    if (payment.status !== "READY" && payment.status !== "WAITING_FOR_DEPOSIT") await settleOpenRefunds(deps, payment);
    if (action.data.kind === "refund") {
      await reconcilePgRefunds(deps, (await findPayment(deps.db, payment.id)) ?? payment, "WEBHOOK");
    }
    await markWebhook(deps.db, id, "PROCESSED", null);
    return "PROCESSED";
  } catch (error) {
    deps.logger.error(
      { pg: row.pg, tenant: row.tenant, eventId: row.event_id, err: (error as Error).message },
      "webhook stored but processing failed; it will be retried",
    );
    await markWebhook(deps.db, id, "FAILED", (error as Error).message);
    return "FAILED";
  }
}

/** The stored webhook's fields processing reads. */
interface StoredWebhook {
  pg: string;
  tenant: string;
  event_id: string;
  action: unknown;
}

/** The part of a WebhookAction a retry needs. */
const StoredActionSchema = z.object({
  kind: z.enum(["payment", "refund"]),
  pgTransactionId: z
    .string()
    .transform((id) => brand<PgTransactionId>(id))
    .optional(),
  paymentReference: z
    .string()
    .transform((id) => brand<PaymentId>(id))
    .optional(),
  unsigned: z.literal(true).optional(),
});

/** One `T` per database (so per PGB app in tests), made by `create` on first use. */
function perDatabase<T>(made: WeakMap<object, T>, deps: CoreDeps, create: () => T): T {
  let one = made.get(deps.db);
  if (one === undefined) made.set(deps.db, (one = create()));
  return one;
}

const throttles = new WeakMap<object, ReadThrottle>();
/** One per database, like the database it guards the PG's quota for. */
function unsignedReadThrottle(deps: CoreDeps): ReadThrottle {
  return perDatabase(throttles, deps, () => new ReadThrottle(deps.config.workers?.webhooks.unsignedReadWindowMs ?? 10_000, deps.clock));
}

const intakes = new WeakMap<object, WebhookIntake>();
/**
 * One per database: webhooks that arrive together share its statement. A batch whose statement fails is logged: each of
 * its webhooks is stored alone instead, so nothing is lost, but a batch statement that kept failing
 * would quietly cost the shared commits.
 */
function webhookIntake(deps: CoreDeps): WebhookIntake {
  return perDatabase(
    intakes,
    deps,
    () =>
      new WebhookIntake(deps.db, (error, webhooks) =>
        deps.logger.warn({ err: (error as Error).message, webhooks }, "a batch of webhooks could not be stored by one statement; stored one at a time"),
      ),
  );
}

/**
 * Re-reads the payment from its PG and settles it. Also what a retry of a stored webhook does.
 * `webhookProcessed`: a stored webhook to mark PROCESSED with the settle's move; answers whether it was.
 */
export async function actOn(deps: CoreDeps, payment: Payment, trigger: Record<string, unknown>, webhookProcessed?: string): Promise<boolean> {
  const connector = connectorOf(deps, payment.tenant, payment.pg);
  if (payment.pgTransactionId === null) return false;
  const read = await connector.fetchPayment({
    pgTransactionId: payment.pgTransactionId,
    paymentReference: payment.id,
    ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
  });
  const pgPayment = await completeIfApproved(connector, payment, read);
  const settled = await settlePayment(deps, payment, pgPayment, "WEBHOOK", trigger, webhookProcessed === undefined ? {} : { webhookProcessed });
  return settled.kind === "changed" && settled.webhookProcessed === true;
}

/**
 * A refund webhook says some refund of this payment changed at the PG: ask the PG about each refund
 * PGB is still waiting on (not one whose host call is still under way: that call finishes it).
 */
async function settleOpenRefunds(deps: CoreDeps, payment: Payment): Promise<void> {
  const open = (await refundsOf(deps.db, payment.id)).filter((r) => r.status === "UNKNOWN" || (r.status === "PENDING" && r.pg_reference !== null));
  for (const refund of open) {
    const current = (await findPayment(deps.db, payment.id)) ?? payment;
    await settleRefund(deps, current, refund, "WEBHOOK", { failWhenNotFound: false });
  }
}

async function locate(
  deps: CoreDeps,
  pg: string,
  pgTransactionId: PgTransactionId | undefined,
  reference: PaymentId | undefined,
): Promise<Payment | undefined> {
  if (reference !== undefined) {
    const byReference = await findPayment(deps.db, reference);
    if (byReference !== undefined && byReference.pg === pg) return byReference;
  }
  return pgTransactionId === undefined ? undefined : findPaymentByPgTransaction(deps.db, pg, pgTransactionId);
}
