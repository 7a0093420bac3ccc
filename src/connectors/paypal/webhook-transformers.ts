/**
 * Pure mappings of PayPal's webhooks: the references an event carries, the core's WebhookAction for
 * it, and PayPal's certificate check of the signature. No I/O here (the caller fetches the
 * certificate), so every table is unit-tested.
 */
import { createVerify, X509Certificate } from "node:crypto";
import { crc32 } from "node:zlib";
import type { WebhookAction } from "../../core/ports/connector.ts";
import { PayPalEventResourceSchema, PayPalTransmissionHeadersSchema, type PayPalTransmissionHeaders, type PayPalWebhookEvent } from "./wire.ts";
import { brand, type PaymentId, type PgTransactionId } from "../../core/ids.ts";

/** References a webhook carries, by resource: an order, a capture, or a refund/reversal. */
export interface PayPalEventReferences {
  orderId?: string;
  captureId?: string;
  refundId?: string;
  /** custom_id: PGB's payment id on orders and captures; on a refund, whatever PGB put in the refund's custom_id. */
  customId?: string;
}

const CAPTURE_HREF = /\/v2\/payments\/captures\/([^/?#]+)$/;

export function eventReferences(event: PayPalWebhookEvent): PayPalEventReferences {
  const parsed = PayPalEventResourceSchema.safeParse(event.resource);
  if (!parsed.success) return {};
  const r = parsed.data;
  const defined = (refs: PayPalEventReferences): PayPalEventReferences => Object.fromEntries(Object.entries(refs).filter(([, v]) => v !== undefined));
  if (event.event_type.startsWith("CHECKOUT.ORDER.")) return defined({ orderId: r.id, customId: r.purchase_units?.[0]?.custom_id });
  if (event.event_type === "PAYMENT.CAPTURE.REFUNDED" || event.event_type === "PAYMENT.CAPTURE.REVERSED") {
    const up = r.links?.find((l) => l.rel === "up")?.href;
    return defined({ refundId: r.id, captureId: up === undefined ? undefined : CAPTURE_HREF.exec(up)?.[1], customId: r.custom_id });
  }
  return defined({ captureId: r.id, orderId: r.supplementary_data?.related_ids?.order_id, customId: r.custom_id });
}

/**
 * A verified event as the core's WebhookAction. PGB's pgTransactionId for PayPal is the order id,
 * and its payment reference is custom_id. A refund or reversal names only its capture: the connector
 * resolves the capture to its order (GET the capture: supplementary_data.related_ids.order_id)
 * unless the refund's custom_id carries PGB's payment id.
 */
export function webhookAction(event: PayPalWebhookEvent): WebhookAction {
  const refs = eventReferences(event);
  const ref = {
    ...(refs.orderId === undefined ? {} : { pgTransactionId: brand<PgTransactionId>(refs.orderId) }),
    ...(refs.customId === undefined ? {} : { paymentReference: brand<PaymentId>(refs.customId) }),
  };
  switch (event.event_type) {
    case "CHECKOUT.ORDER.APPROVED":
    case "PAYMENT.CAPTURE.COMPLETED":
    case "PAYMENT.CAPTURE.PENDING":
    case "PAYMENT.CAPTURE.DENIED":
      if (refs.orderId === undefined && refs.customId === undefined)
        return { kind: "ignored", eventId: event.id, reason: `${event.event_type} names no order and no custom_id` };
      return { kind: "payment", eventId: event.id, ...ref };
    case "PAYMENT.CAPTURE.REFUNDED":
    case "PAYMENT.CAPTURE.REVERSED":
      return { kind: "refund", eventId: event.id, ...ref, ...(refs.refundId === undefined ? {} : { pgRefundId: refs.refundId }) };
    default:
      return { kind: "ignored", eventId: event.id, reason: `PGB does not act on ${event.event_type}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures: PayPal's certificate check, on the raw bytes PayPal sent.

/** Where PayPal serves its signing certificates (PAYPAL-CERT-URL); anything else is refused before any fetch. */
export const PAYPAL_CERT_ORIGINS: readonly string[] = [
  "https://api.paypal.com",
  "https://api-m.paypal.com",
  "https://api.sandbox.paypal.com",
  "https://api-m.sandbox.paypal.com",
];

/**
 * True when `certUrl` may be fetched: its origin is one of `allowedOrigins` (PayPal's, or a
 * simulator's in tests) and it names a certificate path. Trust in the certificate rests on this: it
 * comes over HTTPS from PayPal's own API host.
 */
export function isAllowedCertUrl(certUrl: string, allowedOrigins: readonly string[] = PAYPAL_CERT_ORIGINS): boolean {
  if (!URL.canParse(certUrl)) return false;
  const url = new URL(certUrl);
  return (
    allowedOrigins.includes(url.origin) &&
    url.pathname.startsWith("/v1/notifications/certs/") &&
    url.search === "" &&
    url.username === "" &&
    url.password === ""
  );
}

/** The transmission headers of a webhook, or why they are missing or malformed. */
export function readTransmissionHeaders(
  headers: Record<string, string | string[] | undefined>,
): { ok: true; value: PayPalTransmissionHeaders } | { ok: false; reason: string } {
  const single = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] : v]));
  const parsed = PayPalTransmissionHeadersSchema.safeParse(single);
  if (!parsed.success)
    return { ok: false, reason: `missing or malformed PayPal transmission headers (${parsed.error.issues.map((i) => i.path.join(".")).join(", ")})` };
  return { ok: true, value: parsed.data };
}

/** What PayPal signs: `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body, unsigned decimal>`. */
export function paypalTransmissionMessage(transmissionId: string, transmissionTime: string, webhookId: string, rawBody: Buffer | string): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(rawBody) >>> 0}`;
}

/**
 * PayPal's documented certificate check: SHA256withRSA over the transmission message for this
 * tenant's webhook id, with the public key of the certificate at PAYPAL-CERT-URL (which the caller
 * fetched from an allowed origin), within the certificate's validity. Never throws.
 */
export function verifyPayPalTransmission(input: {
  headers: PayPalTransmissionHeaders;
  rawBody: Buffer;
  webhookId: string;
  certificatePem: string;
  now: Date;
}): { ok: true } | { ok: false; reason: string } {
  const h = input.headers;
  if (h["paypal-auth-algo"] !== "SHA256withRSA") return { ok: false, reason: `unsupported PAYPAL-AUTH-ALGO ${h["paypal-auth-algo"].slice(0, 40)}` };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(input.certificatePem);
  } catch {
    return { ok: false, reason: "PAYPAL-CERT-URL did not serve a certificate" };
  }
  if (input.now < new Date(certificate.validFrom) || input.now > new Date(certificate.validTo))
    return { ok: false, reason: "PayPal's certificate is not valid now" };
  const message = paypalTransmissionMessage(h["paypal-transmission-id"], h["paypal-transmission-time"], input.webhookId, input.rawBody);
  try {
    if (createVerify("RSA-SHA256").update(message, "utf8").verify(certificate.publicKey, h["paypal-transmission-sig"], "base64")) return { ok: true };
  } catch {
    // A malformed signature is just a wrong one.
  }
  return { ok: false, reason: "the PayPal transmission signature does not verify for this webhook id" };
}
