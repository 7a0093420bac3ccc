/**
 * Durable webhook intake, second half: a stored PG webhook whose processing failed (FAILED), or
 * whose process died before finishing it (still RECEIVED, its process lease gone: within
 * `leaseMs`; a row stored without a lease after `staleAfterMs`), is processed again
 * with exponential backoff, by whichever PGB process claims it first (FOR UPDATE SKIP LOCKED).
 * Processing is the same as on arrival (processStoredWebhook) and idempotent: the payment's guarded
 * transitions make a second run change nothing.
 */
import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Logger } from "pino";
import type { WorkersConfig } from "../config/config.ts";
import { raiseAlert } from "../core/alerts.ts";
import type { CoreDeps } from "../core/deps.ts";
import { processStoredWebhook } from "../core/use-cases/receive-webhook.ts";
import { leaseIsDead } from "../storage/lease-repository.ts";
import { backoffMs } from "./backoff.ts";
import type { PgbMetrics } from "./metrics.ts";
import { WorkerLoop } from "./worker-loop.ts";
import { purgeExpiredWebhooks } from "./webhook-retention.ts";
import type { Database } from "../storage/schema.ts";

const BATCH = 20;
/** How often the retention purge runs (it also runs on the first tick). */
const PURGE_EVERY_MS = 60_000;

export class WebhookRetrier {
  readonly #db: Kysely<Database>;
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
      const purged = await purgeExpiredWebhooks(this.#db as Kysely<unknown>, this.settings.rejectedRetentionDays);
      if (purged > 0) this.#logger.info({ purged, retentionDays: this.settings.rejectedRetentionDays }, "purged rejected and ignored webhooks past their retention");
    }
    const claimed = await sql<{ id: string; event_id: string; pg: string }>`
      UPDATE pg_webhooks w
      SET claim_token = ${this.#token}
      WHERE w.id IN (
        SELECT c.id FROM pg_webhooks c
        WHERE c.status IN ('RECEIVED','FAILED') AND ${leaseIsDead("c.claim_token")}
          AND ((c.status = 'RECEIVED' AND (c.claim_token IS NOT NULL OR c.received_at + ${this.settings.staleAfterMs} * interval '1 millisecond' <= now()))
            OR (c.status = 'FAILED' AND c.attempts < ${this.settings.maxAttempts}
                AND coalesce(c.next_attempt_at, c.received_at + ${this.settings.backoffMs} * interval '1 millisecond') <= now()))
        ORDER BY c.id
        LIMIT ${BATCH}
        FOR UPDATE SKIP LOCKED)
      RETURNING w.id::text AS id, w.event_id, w.pg`.execute(this.#db);

    for (const row of claimed.rows) {
      const result = await processStoredWebhook(this.deps, row.id);
      this.metrics.webhookRetries.inc({ result: result.toLowerCase() });
      const after = await this.#db.selectFrom("pg_webhooks").select(["attempts", "status"]).where("id", "=", row.id).executeTakeFirstOrThrow();
      const next = result === "FAILED" ? new Date(this.deps.clock.nowMs() + backoffMs(after.attempts, this.settings.backoffMs, this.settings.maxBackoffMs)) : null;
      await this.#db.updateTable("pg_webhooks").set({ claim_token: null, next_attempt_at: next }).where("id", "=", row.id).where("claim_token", "=", this.#token).execute();
      if (result === "FAILED" && after.attempts >= this.settings.maxAttempts) {
        await raiseAlert(
          { db: this.deps.db, logger: this.#logger },
          { type: "WEBHOOK_GAVE_UP", subject: `webhook:${row.id}`, details: { webhookId: row.id, pg: row.pg, eventId: row.event_id, attempts: after.attempts }, message: "stopped retrying a PG webhook; the reconciler still asks the PG about its payment" },
        );
      }
    }
    return claimed.rows.length === BATCH ? 0 : this.pollIntervalMs;
  }
}
