/**
 * Toss's webhooks, which Toss does not sign: each is a hint naming a payment PGB then reads from
 * Toss, except a DEPOSIT_CALLBACK, which carries the secret Toss gave at the account's issuance.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { WebhookAction, WebhookInput } from "../../core/ports/connector.ts";
import type { CheckoutStore } from "./store.ts";
import { depositCallbackEventId, statusChangedEventId } from "./transformers.ts";
import { TossDepositCallbackSchema, TossPaymentStatusChangedSchema, TossWebhookEnvelopeSchema } from "./wire.ts";
import { brand, type PgTransactionId } from "../../core/ids.ts";

export async function parseTossWebhook(input: WebhookInput, tenant: string, store: CheckoutStore, logger: Logger): Promise<WebhookAction> {
  const body = parseJson(input.rawBody.toString("utf8"));
  const envelope = TossWebhookEnvelopeSchema.safeParse(body);
  if (!envelope.success || body === null || typeof body !== "object") return { kind: "rejected", reason: "not a Toss webhook body" };
  const eventType = envelope.data.eventType;

  if (eventType === "PAYMENT_STATUS_CHANGED") {
    const event = TossPaymentStatusChangedSchema.safeParse(body);
    if (!event.success) return { kind: "rejected", reason: "PAYMENT_STATUS_CHANGED without a Toss Payment in data" };
    const row = await store.findByOrderId(tenant, event.data.data.orderId);
    const eventId = statusChangedEventId(event.data);
    if (row === undefined) return { kind: "ignored", eventId, reason: "no PGB payment has this orderId" };
    return {
      kind: "payment",
      eventId,
      pgTransactionId: brand<PgTransactionId>(event.data.data.paymentKey),
      paymentReference: row.paymentReference,
      unsigned: true,
    };
  }

  if (eventType === undefined || eventType === "DEPOSIT_CALLBACK") {
    const callback = TossDepositCallbackSchema.safeParse(body);
    if (!callback.success) return { kind: "rejected", reason: "not a Toss DEPOSIT_CALLBACK body" };
    const deposit = callback.data;
    const eventId = depositCallbackEventId(deposit);
    const row = await store.findByOrderId(tenant, deposit.orderId);
    if (row === undefined) return { kind: "ignored", eventId, reason: "no PGB payment has this orderId" };
    // Unsigned: the secret Toss gave at issuance is the only proof the callback is Toss's.
    if (row.depositSecret !== null && !sameSecret(row.depositSecret, deposit.secret)) {
      logger.warn({ paymentReference: row.paymentReference }, "DEPOSIT_CALLBACK with a wrong secret rejected");
      return { kind: "rejected", reason: "DEPOSIT_CALLBACK secret does not match the virtual account's" };
    }
    const action: WebhookAction = { kind: "payment", eventId, paymentReference: row.paymentReference };
    if (row.paymentKey !== null) action.pgTransactionId = brand<PgTransactionId>(row.paymentKey);
    if (row.depositSecret === null) action.unsigned = true;
    return action;
  }

  const digest = createHash("sha256").update(input.rawBody).digest("hex").slice(0, 32);
  return { kind: "ignored", eventId: `${eventType}:${envelope.data.createdAt ?? ""}:${digest}`, reason: `${eventType} is not a payment event` };
}
function sameSecret(expected: string, given: string): boolean {
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
