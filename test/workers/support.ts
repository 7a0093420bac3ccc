/**
 * What the delivery tests share: a fake host that verifies PGB's notifications with the
 * `standardwebhooks` package exactly as a real host would, PGB started with its workers on short
 * intervals, and TEST connectors with refund faults.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Webhook } from "standardwebhooks";
import { ConnectorError, type Connector } from "../../src/core/ports/connector.ts";
import { type ConnectorFactory } from "../../src/connectors/factory.ts";
import { testConnector } from "../../src/connectors/test-pg/index.ts";
import { createLogger } from "../../src/app.ts";
import { startWorkers, type RunningWorkers, type WorkersOptions } from "../../src/workers/index.ts";
import type { Backend } from "../support/backends.ts";
import { demoTenant, NOTIFY_SECRET, startPgb, type TestPgb } from "../support/pgb.ts";

export interface Received {
  id: string;
  type: string;
  orderId: number;
  payload: Record<string, unknown>;
  status: number;
  at: number;
}

/**
 * The host's notification endpoint. `mode`: "ok" answers 204, "fail" answers 500, "slow" waits past
 * PGB's time-out; `down()` closes the port (connection refused) until `up()`. Every request's
 * signature is verified; a bad one is counted and answered 400.
 */
export class FakeHost {
  mode: "ok" | "fail" | "slow" = "ok";
  /** Answers 500 to a request with this probability even in "ok" mode. */
  flakiness = 0;
  /** Orders whose notifications this host refuses with 400 (a body it cannot take, not an outage). */
  readonly refuseOrders = new Set<number>();
  /** Every request, in arrival order, with the answer given. */
  readonly requests: Received[] = [];
  badSignatures = 0;
  #server: Server | undefined;
  #port = 0;
  readonly #verifier: Webhook;

  constructor(secret = NOTIFY_SECRET) {
    this.#verifier = new Webhook(secret);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/pgb/notify`;
  }

  async up(): Promise<void> {
    // A sender killed mid-request (the crash tests SIGKILL PGB processes) aborts the body: that
    // notification was not delivered, and left unhandled the rejection would fail the test file.
    const server = createServer((req, res) => void this.#handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepted notifications (2xx), deduplicated by webhook-id, first acceptance kept. */
  accepted(): Map<string, Received> {
    const byId = new Map<string, Received>();
    for (const r of this.requests) if (r.status < 300 && !byId.has(r.id)) byId.set(r.id, r);
    return byId;
  }

  acceptedFor(orderId: number): Received[] {
    return [...this.accepted().values()].filter((r) => r.orderId === orderId);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let payload: Record<string, unknown>;
    try {
      payload = this.#verifier.verify(raw, {
        "webhook-id": String(req.headers["webhook-id"] ?? ""),
        "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
        "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
      }) as Record<string, unknown>;
    } catch {
      this.badSignatures++;
      res.writeHead(400).end("bad signature");
      return;
    }
    let status = this.mode === "fail" || (this.flakiness > 0 && Math.random() < this.flakiness) ? 500 : 204;
    if (this.refuseOrders.has(Number(payload.OrderId))) status = 400;
    if (this.mode === "slow") {
      await sleep(2_000);
      status = 204;
    }
    this.requests.push({
      id: String(req.headers["webhook-id"]),
      type: String(payload.Type),
      orderId: Number(payload.OrderId),
      payload,
      status,
      at: Date.now(),
    });
    res.writeHead(status).end(status === 500 ? "host is having a bad day" : status === 400 ? "cannot take this one" : undefined);
  }
}

export function tenantsNotifying(notifyUrl: string): Record<string, unknown> {
  return { DEMO: demoTenant({ notifyUrl }) };
}

/** Short intervals for tests; nothing here is a deadline a test waits on. */
export const FAST: WorkersOptions = {
  pollIntervalMs: 50,
  notifications: { timeoutMs: 1_000, backoffMs: 20, maxBackoffMs: 200, maxAttempts: 50 },
  webhooks: { staleAfterMs: 200, backoffMs: 20, maxBackoffMs: 200 },
  reconciler: { intervalMs: 50, paymentAfterMs: 0, refundAfterMs: 300, maxCheckIntervalMs: 200 },
};

export function merge(base: WorkersOptions, extra: WorkersOptions): WorkersOptions {
  return {
    ...base,
    ...extra,
    notifications: { ...base.notifications, ...extra.notifications },
    webhooks: { ...base.webhooks, ...extra.webhooks },
    reconciler: { ...base.reconciler, ...extra.reconciler },
  };
}

export interface DeliveryRig {
  pgb: TestPgb;
  host: FakeHost;
  workers: RunningWorkers;
  close(): Promise<void>;
}

export async function startRig(backend: Backend, options: { workers?: WorkersOptions; factories?: readonly ConnectorFactory[] } = {}): Promise<DeliveryRig> {
  const host = new FakeHost();
  await host.up();
  const pgb = await startPgb(backend, { tenants: tenantsNotifying(host.url), ...(options.factories ? { factories: options.factories } : {}) });
  // PGB_TEST_LOG=debug shows what the workers do.
  if (process.env.PGB_TEST_LOG) pgb.deps.logger = createLogger(process.env.PGB_TEST_LOG);
  const workers = await startWorkers(pgb, merge(FAST, options.workers ?? {}));
  return {
    pgb,
    host,
    workers,
    async close() {
      await workers.stop();
      await pgb.close();
      await host.down();
    },
  };
}

/** Polls until `check` answers something truthy; the only time limit is generous and overall. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false | null>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export type RefundFault = "none" | "timeout-after-sending" | "timeout-before-sending";

/**
 * The TEST connector whose refund call can time out (an indeterminate failure) before or after the
 * fake PG received it; `withLookup: false` hides lookupRefund so the reconciler must re-send.
 */
export function refundFaultConnector(state: { fault: RefundFault; refundCalls: number }, options: { withLookup: boolean }): ConnectorFactory {
  return {
    ...testConnector,
    create(settings, context) {
      const inner: Connector = testConnector.create(settings as never, context);
      const wrapped: Connector = {
        pg: inner.pg,
        createCheckout: (input) => inner.createCheckout(input),
        parseWebhook: (input) => inner.parseWebhook(input),
        fetchPayment: (ref) => inner.fetchPayment(ref),
        handleReturn: (input) => inner.handleReturn(input),
        expireCheckout: (ref) => inner.expireCheckout(ref),
        refund: async (input) => {
          state.refundCalls++;
          const fault = state.fault;
          state.fault = "none";
          if (fault === "timeout-before-sending") throw new ConnectorError("indeterminate", "no answer from the PG within the time-out");
          const outcome = await inner.refund(input);
          if (fault === "timeout-after-sending") throw new ConnectorError("indeterminate", "no answer from the PG within the time-out");
          return outcome;
        },
      };
      if (options.withLookup && inner.lookupRefund) wrapped.lookupRefund = (ref) => inner.lookupRefund!(ref);
      return wrapped;
    },
  };
}
