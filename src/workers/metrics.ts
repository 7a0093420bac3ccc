/**
 * Prometheus metrics (GET /metrics). Queue sizes are read from the database at scrape time, so every
 * PGB process reports the same truth about the shared outbox; counters and histograms count what
 * this process did. One registry per app, so several apps in one test process do not collide.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PgCallMetrics } from "../connectors/kit/pg-http-client.ts";
import type { Db } from "../storage/database.ts";
import { openAlertsByType } from "../storage/alert-repository.ts";
import {
  notificationCountsByState,
  oldestPendingNotificationSeconds,
  oldestUnprocessedWebhookSeconds,
  unprocessedWebhookCounts,
} from "../storage/metrics-queries.ts";

export interface PgbMetrics {
  registry: Registry;
  notificationAttempts: Counter<"outcome">;
  notificationAttemptSeconds: Histogram<"outcome">;
  webhookRetries: Counter<"result">;
  reconcilerActions: Counter<"action">;
  /** Every call to a PG, through the shared HTTP client or a PG's SDK. */
  pgCalls: PgCallMetrics;
}

function pgCallMetrics(registry: Registry): PgCallMetrics {
  const calls = new Counter({
    name: "pgb_pg_calls_total",
    help: "Calls to PGs made by this process, by PG, operation and outcome (ok, or the failure's class: declined, retryable, indeterminate, fatal).",
    labelNames: ["pg", "operation", "outcome"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "pgb_pg_call_seconds",
    help: "Time a PG took to answer (or to fail), by PG and operation.",
    labelNames: ["pg", "operation"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    observe({ pg, operation, outcome, seconds }) {
      calls.inc({ pg, operation, outcome });
      latency.observe({ pg, operation }, seconds);
    },
  };
}

export function createMetrics(db: Db): PgbMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "pgb_" });

  new Gauge({
    name: "pgb_notifications",
    help: "Host notifications by delivery state: pending (never tried), retrying (failed at least once, will retry), dead (gave up; replayable).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      for (const [state, n] of Object.entries(await notificationCountsByState(db))) this.set({ state }, n);
    },
  });

  new Gauge({
    name: "pgb_notification_oldest_undelivered_seconds",
    help: "Age of the oldest notification not yet delivered (0 when none); dead ones excluded.",
    registers: [registry],
    async collect() {
      this.set(await oldestPendingNotificationSeconds(db));
    },
  });

  new Gauge({
    name: "pgb_webhook_processing_lag_seconds",
    help: "Age of the oldest stored PG webhook not yet processed (RECEIVED or FAILED); 0 when none.",
    registers: [registry],
    async collect() {
      this.set(await oldestUnprocessedWebhookSeconds(db));
    },
  });

  new Gauge({
    name: "pgb_webhooks_unprocessed",
    help: "Stored PG webhooks waiting for (re)processing, by status.",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      for (const [status, n] of Object.entries(await unprocessedWebhookCounts(db))) this.set({ status }, n);
    },
  });

  new Gauge({
    name: "pgb_alerts_open",
    help: "Alerts in the console's inbox not yet acknowledged, by type.",
    labelNames: ["type"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { type, n } of await openAlertsByType(db)) this.set({ type }, n);
    },
  });

  return {
    registry,
    pgCalls: pgCallMetrics(registry),
    notificationAttempts: new Counter({
      name: "pgb_notification_attempts_total",
      help: "Delivery attempts to hosts made by this process, by outcome (delivered, retry, dead).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    notificationAttemptSeconds: new Histogram({
      name: "pgb_notification_attempt_seconds",
      help: "Duration of one delivery attempt to a host.",
      labelNames: ["outcome"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    webhookRetries: new Counter({
      name: "pgb_webhook_retries_total",
      help: "Stored PG webhooks re-processed by this process's retrier, by result.",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    reconcilerActions: new Counter({
      name: "pgb_reconciler_actions_total",
      help: "What this process's reconciler concluded per check: paid, failed, expired, deposit_waiting, unchanged, mismatch, refund_succeeded, refund_failed, refund_pending, closed, late_payment, busy, error.",
      labelNames: ["action"] as const,
      registers: [registry],
    }),
  };
}
