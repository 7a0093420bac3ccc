/**
 * Durable intake of a PG's webhook: verify and normalise it (the connector), store it raw and
 * deduplicated by the PG's event id, then act on it by re-reading the payment from the PG. A
 * webhook is answered 2xx only once it is safely stored; a failure while acting on it leaves it
 * stored as FAILED for a retry, never lost.
 */
import { sql } from "kysely";
import type { WebhookInput } from "../../connectors/connector.ts";
import type { CoreDeps } from "../deps.ts";
import { newId } from "../ids.ts";
import { findPayment, findPaymentByPgTransaction, type Payment } from "../../storage/payment-repository.ts";
import { settlePayment } from "./settle-payment.ts";

export type WebhookReply = { status: number; body: { received: boolean; duplicate?: boolean; error?: string } };

/** Headers worth keeping for the audit trail; anything else (cookies, auth) is not stored. */
const KEPT_HEADERS = /^(content-type|user-agent|webhook-|stripe-signature|tosspayments-|paypal-|x-forwarded-for)/i;

export async function receiveWebhook(deps: CoreDeps, pg: string, tenant: string, input: WebhookInput): Promise<WebhookReply> {
  const connector = deps.connectorFor(tenant, pg);
  if (connector === undefined) return { status: 404, body: { received: false, error: "unknown PG or tenant" } };
  const headers = JSON.stringify(Object.fromEntries(Object.entries(input.headers).filter(([k]) => KEPT_HEADERS.test(k))));
  const body = input.rawBody.toString("utf8");
  const action = await connector.parseWebhook(input);

  if (action.kind === "rejected") {
    deps.logger.warn({ pg, tenant, reason: action.reason }, "rejected a webhook");
    await deps.db
      .insertInto("pg_webhooks")
      .values({ pg, tenant, event_id: `rejected:${newId("evt")}`, status: "REJECTED", headers, body, error: action.reason })
      .execute();
    return { status: 400, body: { received: false, error: "webhook rejected" } };
  }

  const stored = await deps.db
    .insertInto("pg_webhooks")
    .values({ pg, tenant, event_id: action.eventId, status: action.kind === "ignored" ? "PROCESSED" : "RECEIVED", headers, body, error: action.kind === "ignored" ? action.reason : null })
    .onConflict((oc) => oc.columns(["pg", "tenant", "event_id"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (stored === undefined) return { status: 200, body: { received: true, duplicate: true } };
  if (action.kind === "ignored") return { status: 200, body: { received: true } };

  try {
    const payment = await locate(deps, pg, action.pgTransactionId, action.paymentReference);
    if (payment === undefined || payment.tenant !== tenant) {
      await markWebhook(deps, stored.id, "PROCESSED", "no PGB payment matches this event");
      return { status: 200, body: { received: true } };
    }
    await actOn(deps, payment, { webhookId: String(stored.id), eventId: action.eventId });
    await markWebhook(deps, stored.id, "PROCESSED", null);
  } catch (error) {
    deps.logger.error({ pg, tenant, eventId: action.eventId, err: (error as Error).message }, "webhook stored but processing failed; it will be retried");
    await markWebhook(deps, stored.id, "FAILED", (error as Error).message);
  }
  return { status: 200, body: { received: true } };
}

/** Re-reads the payment from its PG and settles it. Also what a retry of a stored webhook does. */
export async function actOn(deps: CoreDeps, payment: Payment, trigger: Record<string, unknown>): Promise<void> {
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  if (connector === undefined) throw new Error(`PG ${payment.pg} not configured for ${payment.tenant}`);
  if (payment.pgTransactionId === null) return;
  const pgPayment = await connector.fetchPayment({
    pgTransactionId: payment.pgTransactionId,
    paymentReference: payment.id,
    ...(payment.pgDetails ? { details: payment.pgDetails } : {}),
  });
  await settlePayment(deps, payment, pgPayment, "WEBHOOK", trigger);
}

async function locate(deps: CoreDeps, pg: string, pgTransactionId: string | undefined, reference: string | undefined): Promise<Payment | undefined> {
  if (reference !== undefined) {
    const byReference = await findPayment(deps.db, reference);
    if (byReference !== undefined && byReference.pg === pg) return byReference;
  }
  return pgTransactionId === undefined ? undefined : findPaymentByPgTransaction(deps.db, pg, pgTransactionId);
}

async function markWebhook(deps: CoreDeps, id: string, status: "PROCESSED" | "FAILED", error: string | null): Promise<void> {
  await deps.db
    .updateTable("pg_webhooks")
    .set({ status, error, attempts: sql`attempts + 1`, processed_at: status === "PROCESSED" ? new Date() : null })
    .where("id", "=", String(id))
    .execute();
}
