/**
 * PayPal's webhooks: verified by PayPal's documented certificate check on the exact bytes received
 * (SHA256withRSA over `<transmission id>|<time>|<webhook id>|<crc32 of the body>`, with the key of
 * the certificate at PAYPAL-CERT-URL, fetched only from PayPal's own API hosts). Not the
 * verify-webhook-signature call: that makes PayPal re-serialise the event PGB hands back, so it can
 * fail on a genuine event, and it needs a token and a PayPal round trip for every delivery, so
 * webhooks could not even be stored while PayPal's API throttles or is down.
 *
 * A verified event only names what to re-read; nothing in its body is believed.
 */
import type { WebhookAction, WebhookInput } from "../../core/ports/connector.ts";
import { eventReferences, isAllowedCertUrl, readTransmissionHeaders, verifyPayPalTransmission, webhookAction } from "./webhook-transformers.ts";
import { PayPalWebhookEventSchema } from "./wire.ts";

/** A transmission older (or further ahead) than this is a replay, even with a valid signature. */
export const TRANSMISSION_TOLERANCE_MS = 15 * 60_000;
/** PayPal's certificates are a few KiB. */
const MAX_CERTIFICATE_BYTES = 32 * 1024;
const CACHED_CERTIFICATES = 16;

/** Certificates by URL. Only allow-listed URLs are fetched, so this holds PayPal's few certificates. */
const certificates = new Map<string, Promise<string>>();

/**
 * The PEM at `url`. Not through the PG HTTP client: it is a public document, fetched without
 * credentials, and not JSON. A failure is not cached, so the next delivery tries again.
 */
function certificateAt(url: string, timeoutMs: number): Promise<string> {
  let cached = certificates.get(url);
  if (cached === undefined) {
    cached = (async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
      const text = await response.text();
      if (!response.ok || text.length > MAX_CERTIFICATE_BYTES) throw new Error(`PAYPAL-CERT-URL answered ${response.status} (${text.length} characters)`);
      return text;
    })();
    cached.catch(() => certificates.delete(url));
    if (certificates.size >= CACHED_CERTIFICATES) certificates.delete(certificates.keys().next().value!);
    certificates.set(url, cached);
  }
  return cached;
}

export interface VerifiedEvent {
  action: WebhookAction;
  /** A refund or reversal names only its capture: the connector finds the order from it. */
  captureId?: string;
}

/**
 * Verifies and reads one delivery. Throws only when PayPal's certificate cannot be fetched now (the
 * intake then answers an error and PayPal delivers the event again); never for a bad delivery.
 */
export async function verifyWebhook(
  input: WebhookInput,
  settings: { webhookId: string; certOrigins: readonly string[]; timeoutMs: number },
  now: Date,
): Promise<VerifiedEvent> {
  const headers = readTransmissionHeaders(input.headers);
  if (!headers.ok) return { action: { kind: "rejected", reason: headers.reason } };
  const certUrl = headers.value["paypal-cert-url"];
  if (!isAllowedCertUrl(certUrl, settings.certOrigins))
    return { action: { kind: "rejected", reason: "PAYPAL-CERT-URL is not one of PayPal's certificate addresses" } };
  const sentAt = Date.parse(headers.value["paypal-transmission-time"]);
  if (Number.isNaN(sentAt) || Math.abs(now.getTime() - sentAt) > TRANSMISSION_TOLERANCE_MS) {
    return { action: { kind: "rejected", reason: "PAYPAL-TRANSMISSION-TIME is not within 15 minutes of now (a replay?)" } };
  }
  const certificatePem = await certificateAt(certUrl, settings.timeoutMs);
  const verified = verifyPayPalTransmission({ headers: headers.value, rawBody: input.rawBody, webhookId: settings.webhookId, certificatePem, now });
  if (!verified.ok) return { action: { kind: "rejected", reason: verified.reason } };

  let json: unknown;
  try {
    json = JSON.parse(input.rawBody.toString("utf8"));
  } catch {
    return { action: { kind: "rejected", reason: "the body is not JSON" } };
  }
  const event = PayPalWebhookEventSchema.safeParse(json);
  if (!event.success) return { action: { kind: "rejected", reason: "the body is not a PayPal webhook event" } };
  const action = webhookAction(event.data);
  if (action.kind === "refund" && action.pgTransactionId === undefined) {
    const captureId = eventReferences(event.data).captureId;
    if (captureId !== undefined) return { action, captureId };
  }
  return { action };
}
