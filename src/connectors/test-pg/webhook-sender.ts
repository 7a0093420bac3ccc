/**
 * The TEST PG's webhooks to PGB: signed with the merchant's TEST secret (Standard Webhooks scheme),
 * POSTed to the payment's webhook URL, dropped or duplicated as the merchant's delivery setting says,
 * and retried a few times when delivery fails.
 */
import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Webhook } from "standardwebhooks";
import type { Logger } from "pino";
import { newId } from "../../core/ids.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { TestPgPayment } from "./records.ts";

export interface WebhookTarget {
  secret: string;
  /** "drop" loses every webhook (for lost-webhook tests); "duplicate" sends each twice. */
  delivery: "send" | "drop" | "duplicate";
}

export class TestPgWebhookSender {
  constructor(
    private readonly logger: Logger,
    private readonly webhookTargetFor: (tenant: string) => WebhookTarget | undefined,
    private readonly clock: Clock,
  ) {}

  /**
   * Fire and forget, like a PG: the webhook races the customer's browser coming back. A failed
   * delivery is retried a few times with backoff; a real PG retries for days.
   */
  send(payment: TestPgPayment, about: { type: "refund.updated"; refundId: string } | undefined = undefined): void {
    const target = this.webhookTargetFor(payment.tenant);
    if (target === undefined || target.delivery === "drop") return;
    const data = {
      paymentId: payment.id,
      merchantReference: payment.merchantReference,
      status: payment.status,
      ...(about ? { refundId: about.refundId } : {}),
    };
    const event = { id: newId("evt", this.clock), type: about?.type ?? "payment.updated", created: this.clock.now().toISOString(), data };
    const body = JSON.stringify(event);
    const signer = new Webhook(target.secret);
    const copies = target.delivery === "duplicate" ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) void this.deliver(payment.webhookUrl, event.id, body, signer, 0);
  }

  private async deliver(url: string, eventId: string, body: string, signer: Webhook, attempt: number): Promise<void> {
    const timestamp = this.clock.now();
    try {
      const status = await post(url, body, {
        "content-type": "application/json",
        "webhook-id": eventId,
        "webhook-timestamp": Math.floor(timestamp.getTime() / 1000).toString(),
        "webhook-signature": signer.sign(eventId, timestamp, body),
      });
      if (status >= 200 && status < 300) return;
      throw new Error(`HTTP ${status}`);
    } catch (error) {
      if (attempt >= 4) {
        this.logger.warn({ eventId, err: (error as Error).message }, "TEST PG gave up delivering a webhook");
        return;
      }
      setTimeout(() => void this.deliver(url, eventId, body, signer, attempt + 1), 200 * 4 ** attempt).unref();
    }
  }
}

// Kept-alive connections, as a PG's sender keeps them: the global fetch costs several times the CPU
// per request, and this sender runs inside PGB's process.
const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 64 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }) };
const TIMEOUT_MS = 10_000;

/** POSTs `body`; resolves with the answer's status once it is read, rejects on a network error or after TIMEOUT_MS. */
function post(url: string, body: string, headers: OutgoingHttpHeaders): Promise<number> {
  const target = new URL(url);
  const secure = target.protocol === "https:";
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(
      target,
      { method: "POST", agent: secure ? agents.https : agents.http, headers: { ...headers, "content-length": Buffer.byteLength(body) }, timeout: TIMEOUT_MS },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    request.on("error", reject);
    request.end(body);
  });
}
