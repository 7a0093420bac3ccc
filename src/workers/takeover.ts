/**
 * Finishes work whose process is gone (its lease ran out or was dropped): refunds reserved and never
 * answered by the PG, and superseded checkouts still to be closed at the PG; and asks the PG about
 * refunds whose call timed out (UNKNOWN) without waiting for the reconciler's timer. Polls every
 * `pollIntervalMs`, so a killed process's refund is taken over within about `leaseMs` of its death.
 * Claims are conditional updates, so any number of processes may run this at once.
 */
import type { Logger } from "pino";
import { ConnectorError } from "../core/ports/connector.ts";
import type { CoreDeps } from "../core/deps.ts";
import { TAKEN_OVER, takeOverRefund } from "../core/use-cases/resume-refund.ts";
import { claimCheckoutCloses, claimOrphanedRefunds, finishCheckoutClose, retryCheckoutCloseLater } from "../storage/lease-repository.ts";
import { dueUnknownRefunds } from "../storage/reconcile-check-repository.ts";
import { backoffMs } from "./backoff.ts";
import type { Reconciler } from "./reconciler.ts";
import { WorkerLoop } from "./worker-loop.ts";
import type { PaymentId } from "../core/ids.ts";

const BATCH = 10;

export class TakeoverWorker {
  readonly #loop: WorkerLoop;
  readonly #logger: Logger;

  constructor(
    private readonly deps: CoreDeps,
    private readonly reconciler: Reconciler | undefined,
    private readonly pollIntervalMs: number,
  ) {
    this.#logger = deps.logger.child({ worker: "takeover" });
    this.#loop = new WorkerLoop("takeover", this.#logger, () => this.#tick(), pollIntervalMs);
  }

  start(): void {
    this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #tick(): Promise<number> {
    const token = this.deps.leaseToken;
    if (token === undefined) return this.pollIntervalMs;
    const refunds = await claimOrphanedRefunds(this.deps.db, token, BATCH);
    for (const id of refunds) {
      const result = await takeOverRefund(this.deps, id, TAKEN_OVER, "RECONCILER", "notification").catch((error: unknown) => {
        this.#logger.error({ refundId: id, err: (error as Error).message }, "could not take over a refund; retrying");
        return undefined;
      });
      if (result !== undefined && !result.ok)
        this.#logger.warn({ refundId: id, code: result.code, err: result.message }, "took over a refund; the PG did not carry it out");
    }
    const closes = this.reconciler === undefined ? [] : await claimCheckoutCloses(this.deps.db, token, BATCH);
    for (const close of closes) await this.#close(close.paymentId, close.attempts, token);
    // Refunds whose call timed out: looked up at the PG within seconds, backing off (the reconciler's
    // leased claim keeps two processes from asking at once), not on the reconciler's long timer.
    const unknown = this.reconciler === undefined ? [] : await dueUnknownRefunds(this.deps.db, BATCH);
    for (const id of unknown) await this.reconciler!.checkRefund(id);
    return refunds.length === BATCH || closes.length === BATCH || unknown.length === BATCH ? 0 : this.pollIntervalMs;
  }

  async #close(paymentId: PaymentId, attempts: number, token: string): Promise<void> {
    try {
      const report = await this.reconciler!.checkSuperseded(paymentId);
      if (report.result === "error" || report.result === "busy" || (report.result === "unchanged" && report.detail !== undefined))
        throw new Error(report.detail ?? report.result);
      await finishCheckoutClose(this.deps.db, paymentId);
    } catch (error) {
      const message = error instanceof ConnectorError ? `${error.errorClass}: ${error.message}` : (error as Error).message;
      await retryCheckoutCloseLater(this.deps.db, paymentId, token, backoffMs(attempts, 500, 60_000), message);
    }
  }
}
