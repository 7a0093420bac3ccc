/**
 * Delivers the outbox (table notifications) to each tenant's notifyUrl (README, "Delivery to the host").
 *
 * - At least once: a row leaves PENDING only when the host answered 2xx (DELIVERED) or the attempt
 *   limit is reached (DEAD, replayable). A process that dies mid-attempt loses nothing: its claim is
 *   a lease that runs out, and another process sends the notification again under the same id.
 * - Signed with Standard Webhooks; `webhook-id` is the notification id, stable across retries, so
 *   the host deduplicates (notification-sender.ts).
 * - Per order, in the order the events happened: a notification is claimable only when every
 *   earlier one (lower seq) of its order is DELIVERED. A dead one therefore holds back the later
 *   ones of its order until it is replayed; other orders are not affected.
 * - A host that is down is probed, not hammered: after `outageThreshold` host-level failures in a row
 *   (refused, time-out, 5xx) the tenant's endpoint counts as down; its notifications are then not
 *   sent, except one probe per `probeIntervalMs`; a probe the host does not answer is not counted
 *   against the notification's attempts, so an outage never makes one DEAD. The first answer (2xx, or a
 *   4xx about one body) marks it up and releases at once every notification held back by host-level
 *   failures, sent at the dispatchers' bounded concurrency. A notification refused on its own (4xx
 *   while others go through) keeps its exponential backoff.
 * - Shared by any number of processes: claims use FOR UPDATE SKIP LOCKED.
 * - Every attempt is recorded in notification_attempts; a batch the hosts all accepted in one statement.
 * - Sent over keep-alive connections, at most `concurrency` per host (host-poster.ts).
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { WorkersConfig } from "../config/config.ts";
import { raiseAlert } from "../core/alerts.ts";
import type { CoreDeps, NotificationHandOff } from "../core/deps.ts";
import { claimProbes, msUntilNextProbe, recordEndpointAnswered, recordEndpointFailure } from "../storage/endpoint-repository.ts";
import type { Db } from "../storage/database.ts";
import {
  claimDueNotifications,
  claimProbeNotification,
  insertNotificationAttempts,
  markNotificationsDelivered,
  msUntilNextDueNotification,
  recordDeliveredAttempts,
  recordNotificationOutcome,
  releaseNotificationClaims,
  type AttemptOutcome,
  type AttemptRecord,
  type ClaimedNotification,
} from "../storage/notification-repository.ts";
import { backoffMs } from "./backoff.ts";
import { DueTimes } from "./due-times.ts";
import type { PgbMetrics } from "./metrics.ts";
import { NotificationSender, type AttemptResult } from "./notification-sender.ts";
import { WorkerLoop } from "./worker-loop.ts";
import { fulfilled, NextBatch } from "../core/next-batch.ts";

interface Claimed extends ClaimedNotification {
  probe?: boolean;
}

interface Recorded {
  outcome: AttemptOutcome;
  nextAttemptAt: Date | null;
  hostLevel: boolean;
  /** Notifications released by this answer ending the endpoint's outage. */
  released: number;
}
interface Finished {
  row: Claimed;
  result: AttemptResult;
  startedAt: Date;
  durationMs: number;
}

/** Room left after an attempt's time-out before another process may take the notification over. */
const LEASE_MARGIN_MS = 5_000;

export class NotificationDispatcher {
  readonly #db: Db;
  readonly #settings: WorkersConfig["notifications"];
  readonly #loop: WorkerLoop;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #token: string;
  readonly #logger: Logger;
  /** Attempts whose HTTP exchange is over, waiting to be recorded together (one transaction per batch). */
  readonly #finished = new NextBatch<Finished, Recorded>(async (batch) => fulfilled(await this.#recordBatch(batch)));
  /** Signs and POSTs each attempt (notification-sender.ts). */
  readonly #sender: NotificationSender;
  /**
   * Whether each attempt, once recorded, should make the loop look for more: a wake-up came while
   * attempts were in flight, or the last claim filled every free slot.
   */
  #lookAfterEachAttempt = false;
  /** When probes of down endpoints are next worth asking the database about (0: now). */
  #probeCheckAt = 0;
  /** When the retries this process recorded fall due: a busy round sleeps no longer than the earliest. */
  readonly #ownRetries = new DueTimes();
  #stopping = false;

  constructor(
    private readonly deps: CoreDeps,
    private readonly metrics: PgbMetrics,
    settings: WorkersConfig["notifications"],
    private readonly pollIntervalMs: number,
  ) {
    this.#db = deps.db;
    this.#settings = settings;
    // Claims carry the process lease: a killed process's claims are taken over as soon as its lease
    // is gone, not when each claim's own time-out runs out.
    this.#token = deps.leaseToken ?? `${process.pid}-${randomBytes(6).toString("hex")}`;
    this.#logger = deps.logger.child({ worker: "notification-dispatcher" });
    this.#sender = new NotificationSender(deps, settings);
    this.#loop = new WorkerLoop("notification-dispatcher", this.#logger, () => this.#tick(), pollIntervalMs);
    this.handOff = {
      claimToken: this.#token,
      claimMs: settings.timeoutMs + LEASE_MARGIN_MS,
      deliver: (notification) => {
        if (!this.#stopping) this.#start(notification);
      },
    };
  }

  /** The token this process stamps on its claims (shown in attempt records as `worker`). */
  get worker(): string {
    return this.#token;
  }

  start(): void {
    this.#loop.start();
  }

  /** Something new may be deliverable (a database wake-up, a replay). */
  wake(): void {
    // It may wait behind a notification of its order that is in flight here: look again once that is recorded.
    this.#lookAfterEachAttempt = true;
    this.#loop.kick();
  }

  /**
   * Stops claiming, lets attempts in flight finish (each is bounded by its time-out), and hands back
   * anything still claimed so another process can send it right away.
   */
  async stop(graceMs = this.#settings.timeoutMs + 1_000): Promise<void> {
    this.#stopping = true;
    await this.#loop.stop();
    const all = Promise.allSettled([...this.#inFlight.values()]);
    const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([all, timer]);
    this.#sender.abortAll(new Error("PGB is shutting down"));
    await Promise.race([Promise.allSettled([...this.#inFlight.values()]), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    await releaseNotificationClaims(this.#db, this.#token);
    this.#sender.close();
  }

  async #tick(): Promise<number> {
    const free = this.#settings.concurrency - this.#inFlight.size;
    // Every slot is taken: each job kicks the loop when it is recorded (#lookAfterEachAttempt).
    if (free <= 0) return this.pollIntervalMs;
    // Nothing in flight here can hold back what a wake-up announced: this claim sees all of it.
    if (this.#inFlight.size === 0) this.#lookAfterEachAttempt = false;
    // This claim sees every retry due by now; the later ones bound how long this round may sleep.
    this.#ownRetries.dropUntil(this.deps.clock.nowMs());
    const claimed = await this.#claim(free);
    if (claimed.length < free && this.deps.clock.nowMs() >= this.#probeCheckAt) claimed.push(...(await this.#claimProbes(free - claimed.length)));
    // Full: more may be due than there was room for.
    if (claimed.length === free) this.#lookAfterEachAttempt = true;
    for (const row of claimed) this.#start(row);
    // A delivered notification that nothing waited behind needs no round trip: what else falls due is
    // looked for when a retry recorded here is due, at the poll interval, or on the next wake-up.
    // Anything else (a failure, a probe, the order's next notification) kicks the loop when recorded.
    if (claimed.length > 0) return this.#untilOwnRetry();
    return this.#untilNextDue();
  }

  /** The poll interval, or less if a retry this process recorded falls due sooner; asks the database nothing. */
  #untilOwnRetry(): number {
    const next = this.#ownRetries.earliest();
    if (next === undefined) return this.pollIntervalMs;
    return Math.min(this.pollIntervalMs, Math.max(1, Math.ceil(next - this.deps.clock.nowMs())));
  }

  #start(row: Claimed): void {
    const job = this.#deliver(row)
      .catch((error: unknown) => {
        this.#logger.error({ notificationId: row.id, err: (error as Error).message }, "delivery bookkeeping failed; the lease will expire and it is retried");
        return true;
      })
      .then((lookAgain) => {
        this.#inFlight.delete(row.id);
        if (lookAgain || this.#lookAfterEachAttempt) this.#loop.kick();
      });
    this.#inFlight.set(row.id, job);
  }

  /**
   * What a payment's move hands over (core/deps.ts NotificationHandOff): its notification, written
   * already claimed under this dispatcher's token, sent now. Once stopping, it is left to the claim's
   * end (stop() releases what this token holds).
   */
  readonly handOff: NotificationHandOff;

  /** Claims due notifications whose earlier ones (same order) are all delivered. */
  async #claim(limit: number): Promise<Claimed[]> {
    return claimDueNotifications(this.#db, this.#token, this.#settings.timeoutMs + LEASE_MARGIN_MS, limit);
  }

  /** One probe per down endpoint that is due one: its oldest sendable notification, backoff or not. */
  async #claimProbes(limit: number): Promise<Claimed[]> {
    const checkAt = this.#probeCheckAt;
    const tenants = await claimProbes(this.#db, limit, this.#settings.probeIntervalMs);
    // None left due: look again at the next poll, not on every wake-up (an idle round's #untilNextDue
    // sets the exact time; a host-level failure recorded meanwhile asked for a look now).
    if (tenants.length < limit && this.#probeCheckAt === checkAt) this.#probeCheckAt = this.deps.clock.nowMs() + this.pollIntervalMs;
    const leaseMs = this.#settings.timeoutMs + LEASE_MARGIN_MS;
    const probes: Claimed[] = [];
    for (const tenant of tenants) {
      const claimed = await claimProbeNotification(this.#db, tenant, this.#token, leaseMs);
      // A probe's attempt counts only if the host answers it: an outage does not use up the budget.
      probes.push(...claimed.map((r) => ({ ...r, probe: true })));
    }
    return probes;
  }

  /** How long until the next eligible notification falls due, at most the poll interval. */
  async #untilNextDue(): Promise<number> {
    const next = await msUntilNextDueNotification(this.#db);
    const probe = await msUntilNextProbe(this.#db);
    // No endpoint down: probes are looked for again at the next poll (or at once after a host-level
    // failure here); another process that marks one down probes it itself.
    this.#probeCheckAt = probe === undefined ? this.deps.clock.nowMs() + this.pollIntervalMs : this.deps.clock.nowMs() + Math.max(0, probe);
    const due = [next, probe].filter((ms): ms is number => ms !== undefined);
    if (due.length === 0) return this.pollIntervalMs;
    // Never spin: something due "now" that could not be claimed is held by another process.
    return Math.min(this.pollIntervalMs, Math.max(10, Math.ceil(Math.min(...due))));
  }

  /** Sends and records one attempt; answers whether the loop should look for more right after it. */
  async #deliver(row: Claimed): Promise<boolean> {
    const startedAt = this.deps.clock.now();
    const started = performance.now();
    const result = await this.#sender.send(row);
    const durationMs = Math.round(performance.now() - started);
    const { outcome, nextAttemptAt, hostLevel, released } = await this.#record({ row, result, startedAt, durationMs });
    if (nextAttemptAt !== null) this.#ownRetries.add(nextAttemptAt.getTime());
    const error = result.ok ? null : result.error;
    if (released > 0) this.#logger.info({ tenant: row.tenant, released }, "the host answers again: its notifications held back by the outage are sent now");
    else if (hostLevel && row.probe) this.#logger.info({ tenant: row.tenant, err: error }, "the host's endpoint is still down (probe failed)");

    this.metrics.notificationAttempts.inc({ outcome: outcome.toLowerCase() });
    this.metrics.notificationAttemptSeconds.observe({ outcome: outcome.toLowerCase() }, durationMs / 1000);
    if (outcome === "DEAD") {
      await raiseAlert(
        { db: this.deps.db, logger: this.#logger },
        {
          type: "NOTIFICATION_DEAD",
          subject: row.id,
          paymentId: row.payment_id,
          tenant: row.tenant,
          details: { notificationId: row.id, attempts: row.attempts, err: error },
          message: "gave up delivering a notification; replay it once the host is fixed",
        },
      );
    } else if (outcome === "RETRY") {
      this.#logger.warn(
        { notificationId: row.id, tenant: row.tenant, attempt: row.attempts, statusCode: result.statusCode, err: error, nextAttemptAt },
        "notification not accepted by the host; will retry",
      );
    }
    return outcome !== "DELIVERED" || row.probe === true || released > 0 || row.later_pending;
  }

  /**
   * Queues an attempt's outcome for the next recording transaction. Under load, attempts finish while
   * one batch is being written, so the next batch takes all of them at once: a few statements for
   * many notifications instead of a transaction each. A notification stays claimed (PENDING) until its
   * batch commits, so a crash before that only means it is sent again under the same id.
   */
  #record(attempt: Finished): Promise<Recorded> {
    return this.#finished.add(attempt);
  }

  async #recordBatch(batch: Finished[]): Promise<Recorded[]> {
    // The usual batch, every host answered 2xx: one statement, no transaction round trips around it.
    if (batch.every((f) => f.result.ok && f.row.probe !== true)) {
      const released = await recordDeliveredAttempts(
        this.#db,
        batch.map((f) => this.#attemptRecord(f, "DELIVERED", null)),
        this.#token,
      );
      return batch.map(({ row }) => ({ outcome: "DELIVERED", nextAttemptAt: null, hostLevel: false, released: released.get(row.tenant) ?? 0 }));
    }
    return this.#db.transaction().execute(async (db) => {
      const recorded: Recorded[] = [];
      const answered = new Map<string, number>();
      for (const { row, result } of batch) {
        // The host's fault, not this body's: refused, timed out, 5xx, 408 or 429.
        const hostLevel = !result.ok && (result.statusCode === null || result.statusCode >= 500 || result.statusCode === 408 || result.statusCode === 429);
        if (hostLevel) {
          await recordEndpointFailure(db, row.tenant, this.#settings.outageThreshold, this.#settings.probeIntervalMs);
          this.#probeCheckAt = 0;
        } else if (!answered.has(row.tenant)) answered.set(row.tenant, await recordEndpointAnswered(db, row.tenant));

        let outcome: AttemptOutcome;
        let nextAttemptAt: Date | null = null;
        if (result.ok) outcome = "DELIVERED";
        else if (row.attempts >= this.#settings.maxAttempts && !(row.probe === true && hostLevel)) outcome = "DEAD";
        else {
          outcome = "RETRY";
          // A failed probe waits the longest backoff: the host's recovery releases it anyway.
          const exponent = row.probe === true && hostLevel ? 64 : row.attempts;
          nextAttemptAt = new Date(this.deps.clock.nowMs() + backoffMs(exponent, this.#settings.backoffMs, this.#settings.maxBackoffMs));
        }
        recorded.push({ outcome, nextAttemptAt, hostLevel, released: hostLevel ? 0 : (answered.get(row.tenant) ?? 0) });
      }
      await insertNotificationAttempts(
        db,
        batch.map((f, i) => this.#attemptRecord(f, recorded[i]!.outcome, recorded[i]!.nextAttemptAt)),
      );
      const delivered = batch.filter((_, i) => recorded[i]!.outcome === "DELIVERED" && !(batch[i]!.row.probe === true && !recorded[i]!.hostLevel));
      if (delivered.length > 0)
        await markNotificationsDelivered(
          db,
          delivered.map((f) => f.row.id),
          this.#token,
        );
      for (const [i, { row, result }] of batch.entries()) {
        if (delivered.includes(batch[i]!)) continue;
        const { outcome, nextAttemptAt, hostLevel } = recorded[i]!;
        // A probe the host answered counts against the budget after all.
        const attempts = row.probe === true && !hostLevel ? row.attempts : undefined;
        await recordNotificationOutcome(db, row.id, this.#token, {
          outcome,
          error: result.ok ? null : result.error,
          nextAttemptAt,
          outageHold: hostLevel,
          attempts,
        });
      }
      return recorded;
    });
  }

  #attemptRecord({ row, result, startedAt, durationMs }: Finished, outcome: AttemptOutcome, nextAttemptAt: Date | null): AttemptRecord {
    const error = result.ok ? null : result.error;
    return { notificationId: row.id, startedAt, durationMs, statusCode: result.statusCode, error, outcome, nextAttemptAt, worker: this.#token };
  }
}
