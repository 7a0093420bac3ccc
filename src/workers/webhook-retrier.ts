/**
 * Durable webhook intake, second half: a stored PG webhook whose processing failed (FAILED), or
 * whose process died before finishing it (still RECEIVED, its process lease gone: within
 * `leaseMs`; a row stored without a lease after `staleAfterMs`), is processed again
 * with exponential backoff, by whichever PGB process claims it first (FOR UPDATE SKIP LOCKED).
 * Processing is the same as on arrival (processStoredWebhook) and idempotent: the payment's guarded
 * transitions make a second run change nothing.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { WorkersConfig } from "../config/config.ts";
import { raiseAlert } from "../core/alerts.ts";
import type { CoreDeps } from "../core/deps.ts";
import { processStoredWebhook } from "../core/use-cases/receive-webhook.ts";
import type { Db } from "../storage/database.ts";
import { claimWebhooksToRetry, purgeExpiredWebhooks, releaseWebhookClaim, webhookProgress } from "../storage/webhook-repository.ts";
import { backoffMs } from "./backoff.ts";
import type { PgbMetrics } from "./metrics.ts";
import { WorkerLoop } from "./worker-loop.ts";

const BATCH = 20;
/** How often the retention purge runs (it also runs on the first tick). */
const PURGE_EVERY_MS = 60_000;

export class WebhookRetrier {
  readonly #db: Db;
  readonly #loop: WorkerLoop;
  readonly #token: string;
  readonly #logger: Logger;
  #lastPurge = 0;

  constructor(
    private readonly deps: CoreDeps,
    private readonly metrics: PgbMetrics,
    private readonly settings: WorkersConfig["webhooks"],
    private readonly pollIntervalMs: number,
  ) {
    this.#db = deps.db;
    this.#logger = deps.logger.child({ worker: "webhook-retrier" });
    this.#token = deps.leaseToken ?? `${process.pid}-${randomBytes(6).toString("hex")}`;
    this.#loop = new WorkerLoop("webhook-retrier", this.#logger, () => this.#tick(), pollIntervalMs);
  }

  start(): void {
    this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #tick(): Promise<number> {
    if (this.deps.clock.nowMs() - this.#lastPurge >= PURGE_EVERY_MS) {
      this.#lastPurge = this.deps.clock.nowMs();
      const purged = await purgeExpiredWebhooks(this.#db, this.settings.rejectedRetentionDays);
      if (purged > 0)
        this.#logger.info({ purged, retentionDays: this.settings.rejectedRetentionDays }, "purged rejected and ignored webhooks past their retention");
    }
    const claimed = await claimWebhooksToRetry(this.#db, this.#token, BATCH, this.settings);

    for (const row of claimed) {
      const result = await processStoredWebhook(this.deps, row.id);
      this.metrics.webhookRetries.inc({ result: result.toLowerCase() });
      const after = await webhookProgress(this.#db, row.id);
      const next =
        result === "FAILED" ? new Date(this.deps.clock.nowMs() + backoffMs(after.attempts, this.settings.backoffMs, this.settings.maxBackoffMs)) : null;
      await releaseWebhookClaim(this.#db, row.id, this.#token, next);
      if (result === "FAILED" && after.attempts >= this.settings.maxAttempts) {
        await raiseAlert(
          { db: this.deps.db, logger: this.#logger },
          {
            type: "WEBHOOK_GAVE_UP",
            subject: `webhook:${row.id}`,
            details: { webhookId: row.id, pg: row.pg, eventId: row.event_id, attempts: after.attempts },
            message: "stopped retrying a PG webhook; the reconciler still asks the PG about its payment",
          },
        );
      }
    }
    return claimed.length === BATCH ? 0 : this.pollIntervalMs;
  }
}
