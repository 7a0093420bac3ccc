/** Signed TEST-PG webhooks as the benchmark sends them (scenarios 3 and 7), and a bare POST to send one. */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import type { Webhook } from "standardwebhooks";

/** The TEST PG's webhook secret in bench/bench-config.json. */
export const BENCH_TEST_PG_SECRET = "whsec_YmVuY2gtdGVzdC1wZy1zZWNyZXQtMTIzNDU2";
/** PGB's notification secret in bench/bench-config.json; the pipeline baseline signs with it too. */
export const BENCH_NOTIFY_SECRET = "whsec_YmVuY2gtbm90aWZ5LXNlY3JldC0xMjM0NTY=";

export interface SignedWebhook {
  orderId: number;
  body: string;
  headers: Record<string, string>;
}

export function signedWebhook(signer: Webhook, orderId: number, id: string, data: Record<string, unknown>): SignedWebhook {
  const body = JSON.stringify({ id, type: "payment.updated", created: new Date().toISOString(), data });
  const now = new Date();
  return {
    orderId,
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": signer.sign(id, now, body),
    },
  };
}

const driverAgent = new HttpAgent({ keepAlive: true, maxSockets: 256 });

/** POSTs `body` over a kept-alive connection; resolves with the status (0 when the request failed). */
export function postRaw(url: URL, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent: driverAgent, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.end(body);
  });
}
