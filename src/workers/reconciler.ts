/**
 * The reconciler (README, "Payment state"): asks the PG about what PGB could not settle on its own and finishes
 * it through the same guarded transitions (and notifications) as the webhook path.
 *
 * - A payment left READY / WAITING_FOR_DEPOSIT for `paymentAfterMs` (lost webhook, customer never
 *   came back, a crash) is fetched from its PG and settled. Checks of one payment back off
 *   (reconcile_checks) so a customer who takes their time costs a few PG calls, not one per pass.
 * - A checkout past its expiry (a virtual account past its due date) that the PG still calls
 *   pending is expired at the PG, read once more (it may have been paid in the meantime) and becomes
 *   EXPIRED, which notifies the host.
 * - A refund left UNKNOWN (the refund call timed out) or PENDING without the PG's answer for
 *   `refundAfterMs` (the process died mid-call; or the PG settles refunds later) is looked up at the
 *   PG (Connector.lookupRefund), or, for a connector without it, re-sent with the same idempotency
 *   key, which by the connector contract never refunds twice. Then it is completed or marked FAILED.
 *
 * Runs on a timer in every PGB process, but one pass at a time across all of them (a PostgreSQL
 * advisory lock), and on demand for one order (POST /PGB/Sync). Each subject is claimed in
 * reconcile_checks, so a Sync racing the timer never acts twice.
 */
import type { Logger } from "pino";
import type { WorkersConfig } from "../config/config.ts";
import { ConnectorError, type PgPayment } from "../core/ports/connector.ts";
import { notConfigured, type CoreDeps } from "../core/deps.ts";
import { settleRefund } from "../core/use-cases/settle-refund.ts";
import { TAKEN_OVER, takeOverRefund } from "../core/use-cases/resume-refund.ts";
import { claimRefundIfOrphaned, runHoldingAdvisoryLock } from "../storage/lease-repository.ts";
import { findMovement, unsettledRefundsOf, type RefundRow } from "../storage/money-movement-repository.ts";
import { claimCheck, dueStalePayments, dueSupersededCheckouts, dueUnsettledRefunds, recordCheck } from "../storage/reconcile-check-repository.ts";
import { settlePayment } from "../core/use-cases/settle-payment.ts";
import { completeIfApproved } from "../core/use-cases/complete-approved.ts";
import type { DatabaseHandle, Db } from "../storage/database.ts";
import { findPayment, paymentsOfOrder, transition, type Payment } from "../storage/payment-repository.ts";
import type { PaymentId, RefundId } from "../core/ids.ts";
import type { PgbMetrics } from "./metrics.ts";
import { WorkerLoop } from "./worker-loop.ts";

export type ReconcilerSettings = WorkersConfig["reconciler"];

/** What one check concluded; also the metric label. */
export type CheckResult =
  | "paid"
  | "failed"
  | "expired"
  | "deposit_waiting"
  | "unchanged"
  | "mismatch"
  | "refund_succeeded"
  | "refund_failed"
  | "refund_pending"
  | "closed"
  | "late_payment"
  | "busy"
  | "error";

export interface CheckReport {
  subject: string;
  kind: "PAYMENT" | "REFUND";
  result: CheckResult;
  detail?: string;
}

/** Key of the advisory lock that makes the timed pass a singleton across PGB processes ("PGB" + 1). */
const LEADER_LOCK_KEY = 0x504742_0001n;
/**
 * Longest a claim lasts; it ends sooner when its process's lease does (a dead process's claim is
 * taken over within the lease time), and at once when the check is recorded.
 */
const CLAIM_MS = 120_000;
/** First pause between lookups of a refund left UNKNOWN (a timed-out refund call), doubling after. */
const UNKNOWN_REFUND_RETRY_MS = 1_000;

export class Reconciler {
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #loop: WorkerLoop;

  constructor(
    private readonly deps: CoreDeps,
    private readonly database: DatabaseHandle,
    private readonly metrics: PgbMetrics,
    private readonly settings: ReconcilerSettings,
  ) {
    this.#db = deps.db;
    this.#logger = deps.logger.child({ worker: "reconciler" });
    this.#loop = new WorkerLoop(
      "reconciler",
      this.#logger,
      async () => {
        await this.runPassAsLeader();
        return this.settings.intervalMs;
      },
      this.settings.intervalMs,
    );
  }

  start(): void {
    this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  /** One timed pass, unless another PGB process is running one right now. */
  async runPassAsLeader(): Promise<CheckReport[] | undefined> {
    const pool = this.database.pool;
    if (pool === undefined) return this.runPass();
    return runHoldingAdvisoryLock(pool, LEADER_LOCK_KEY, () => this.runPass());
  }

  /** Everything due now: stale payments, then unsettled refunds. */
  async runPass(): Promise<CheckReport[]> {
    const s = this.settings;
    const payments = await dueStalePayments(this.#db, s.paymentAfterMs, s.batchSize);
    const refunds = await dueUnsettledRefunds(this.#db, s.refundAfterMs, s.batchSize);
    // Checkouts replaced by a newer PayStart that may still be payable at the PG (PayStart's own
    // expire call is best effort).
    const superseded = await dueSupersededCheckouts(this.#db, s.paymentAfterMs, s.batchSize);
    const reports: CheckReport[] = [];
    for (const id of payments) reports.push(await this.checkPayment(id));
    for (const id of refunds) reports.push(await this.checkRefund(id));
    for (const id of superseded) reports.push(await this.checkSuperseded(id));
    return reports;
  }

  /** POST /PGB/Sync: every live payment and every unsettled refund of one order, now. */
  async syncOrder(tenant: string, orderId: number): Promise<CheckReport[] | undefined> {
    const attempts = await paymentsOfOrder(this.deps.db, tenant, orderId);
    if (attempts.length === 0) return undefined;
    const reports: CheckReport[] = [];
    for (const p of attempts) {
      if (p.status === "READY" || p.status === "WAITING_FOR_DEPOSIT") reports.push(await this.checkPayment(p.id));
      // A replaced checkout may have been paid before it was closed at the PG (a late capture).
      else if (p.status === "SUPERSEDED" && p.pgTransactionId !== null) reports.push(await this.checkSuperseded(p.id));
    }
    const refunds = await unsettledRefundsOf(
      this.#db,
      attempts.map((p) => p.id),
    );
    for (const r of refunds) {
      // A PENDING refund without the PG's answer may still be in its cancel call. With process leases
      // checkRefund tells (a live lease: left alone); without them, only its age does.
      const young =
        this.deps.leaseToken === undefined &&
        r.status === "PENDING" &&
        this.deps.clock.nowMs() - new Date(r.updated_at).getTime() < this.settings.refundAfterMs;
      reports.push(young ? { subject: r.id, kind: "REFUND", result: "busy", detail: "the refund call may still be in flight" } : await this.checkRefund(r.id));
    }
    return reports;
  }

  async checkPayment(paymentId: PaymentId): Promise<CheckReport> {
    const report = await this.#claimed(paymentId, "PAYMENT", async () => {
      const payment = await findPayment(this.deps.db, paymentId);
      // Superseded since it was selected: it still has to be closed at the PG, and this check is the
      // one that holds its claim, so it does that now rather than marking the subject settled.
      if (payment?.status === "SUPERSEDED") return this.#closeSuperseded(payment);
      if (payment === undefined || (payment.status !== "READY" && payment.status !== "WAITING_FOR_DEPOSIT"))
        return { result: "unchanged" as const, done: true };
      return this.#reconcilePayment(payment);
    });
    return { subject: paymentId, kind: "PAYMENT", ...report };
  }

  /** Makes sure a superseded checkout can no longer be paid at the PG. */
  async checkSuperseded(paymentId: PaymentId): Promise<CheckReport> {
    const report = await this.#claimed(paymentId, "PAYMENT", async () => {
      const payment = await findPayment(this.deps.db, paymentId);
      if (payment === undefined || payment.status !== "SUPERSEDED" || payment.pgTransactionId === null) return { result: "unchanged" as const, done: true };
      return this.#closeSuperseded(payment);
    });
    return { subject: paymentId, kind: "PAYMENT", ...report };
  }

  async #closeSuperseded(payment: Payment): Promise<Outcome> {
    if (payment.pgTransactionId === null) return { result: "unchanged", done: true };
    const connector = this.deps.connectorFor(payment.tenant, payment.pg);
    if (connector === undefined) return { result: "error", done: false, detail: notConfigured(payment.tenant, payment.pg).message };
    const ref = { pgTransactionId: payment.pgTransactionId, paymentReference: payment.id, ...(payment.pgDetails ? { details: payment.pgDetails } : {}) };
    let pgPayment = await connector.fetchPayment(ref);
    if (pgPayment.status === "PENDING" || pgPayment.status === "WAITING_FOR_DEPOSIT") {
      await connector.expireCheckout({ pgTransactionId: payment.pgTransactionId, paymentReference: payment.id });
      pgPayment = await connector.fetchPayment(ref);
    }
    if (pgPayment.status === "PAID") {
      // Paid before it could be closed: settle-payment records the late capture and refunds it.
      await settlePayment(this.deps, payment, pgPayment, "RECONCILER", { reconciler: true });
      return { result: "late_payment", done: true };
    }
    if (pgPayment.status === "PENDING" || pgPayment.status === "WAITING_FOR_DEPOSIT")
      return { result: "unchanged", done: false, detail: "still open at the PG" };
    return { result: "closed", done: true };
  }

  async checkRefund(refundId: RefundId): Promise<CheckReport> {
    const report = await this.#claimed(refundId, "REFUND", async () => {
      const refund = await findMovement(this.#db, refundId);
      if (refund === undefined || refund.kind !== "REFUND" || (refund.status !== "PENDING" && refund.status !== "UNKNOWN"))
        return { result: "unchanged" as const, done: true };
      // Reserved and never answered by the PG: its process may still be waiting for the PG (live
      // lease: leave it), or be gone, and then it is taken over exactly as the take-over worker does:
      // asked about and, if the PG never got it, sent under its idempotency key. Never failed for
      // not having arrived: the host's retried cancel would then answer a refusal nobody made.
      if (refund.status === "PENDING" && refund.pg_reference === null && this.deps.leaseToken !== undefined)
        return this.#takeOver(refund.id, this.deps.leaseToken);
      const payment = await findPayment(this.deps.db, refund.payment_id);
      if (payment === undefined) return { result: "error" as const, done: false, detail: "refund of an unknown payment" };
      return this.#reconcileRefund(payment, refund);
    });
    return { subject: refundId, kind: "REFUND", ...report };
  }

  async #reconcilePayment(payment: Payment): Promise<Outcome> {
    const connector = this.deps.connectorFor(payment.tenant, payment.pg);
    if (connector === undefined) return { result: "error", done: false, detail: notConfigured(payment.tenant, payment.pg).message };
    if (payment.pgTransactionId === null) return { result: "error", done: false, detail: "no PG transaction to ask about" };
    const ref = { pgTransactionId: payment.pgTransactionId, paymentReference: payment.id, ...(payment.pgDetails ? { details: payment.pgDetails } : {}) };

    let pgPayment = await completeIfApproved(connector, payment, await connector.fetchPayment(ref));
    let settled = await settlePayment(this.deps, payment, pgPayment, "RECONCILER", { reconciler: true });
    if (settled.kind === "mismatch") return { result: "mismatch", done: false, detail: settled.reason };
    let current = settled.payment;
    if (current.status !== "READY" && current.status !== "WAITING_FOR_DEPOSIT") return { result: resultOf(current.status), done: true };

    // Taken by the PG and settling there (an eCheck clearing, a review): only the PG ends it now.
    if (pgPayment.settling === true) return { result: "unchanged", done: false, detail: "the PG is settling the payment" };
    const deadline = deadlineOf(current, pgPayment);
    if (deadline.getTime() > this.deps.clock.nowMs()) {
      return { result: current.status === payment.status ? "unchanged" : "deposit_waiting", done: false, nextCheckAt: deadline };
    }
    // Past its expiry and still pending at the PG: close it there first, then believe only the PG's
    // answer (the customer may have paid in the last second).
    await connector.expireCheckout({ pgTransactionId: payment.pgTransactionId, paymentReference: payment.id });
    pgPayment = await connector.fetchPayment(ref);
    settled = await settlePayment(this.deps, current, pgPayment, "RECONCILER", { reconciler: true, expiredByPgb: true });
    if (settled.kind === "mismatch") return { result: "mismatch", done: false, detail: settled.reason };
    current = settled.payment;
    if (current.status !== "READY" && current.status !== "WAITING_FOR_DEPOSIT") return { result: resultOf(current.status), done: true };
    if (pgPayment.status === "PENDING" || pgPayment.status === "WAITING_FOR_DEPOSIT") {
      // A PG that cannot expire a checkout: PGB closes the attempt; a payment arriving later is a
      // LATE_PAYMENT for an operator (settle-payment.ts), never silently kept.
      const expired = await this.deps.db.transaction().execute((trx) =>
        transition(trx, this.deps.clock, {
          paymentId: current.id,
          to: "EXPIRED",
          event: "EXPIRED",
          source: "RECONCILER",
          detail: { reason: "past its expiry; the PG still called it pending", pgStatus: pgPayment.status, deadline: deadline.toISOString() },
          patch: { failure_code: "EXPIRED", failure_message: "the checkout expired before it was paid" },
          notification: { FailureCode: "EXPIRED", FailureMessage: "the checkout expired before it was paid" },
        }),
      );
      if (expired !== undefined) return { result: "expired", done: true };
    }
    return { result: "unchanged", done: false };
  }

  async #takeOver(refundId: RefundId, token: string): Promise<Outcome> {
    if (!(await claimRefundIfOrphaned(this.deps.db, refundId, token)))
      return { result: "busy", done: false, detail: "its process is alive and waiting for the PG's answer" };
    const answer = await takeOverRefund(this.deps, refundId, TAKEN_OVER, "RECONCILER", "notification");
    if (answer.ok) return answer.value.refundStatus === "SUCCEEDED" ? { result: "refund_succeeded", done: true } : { result: "refund_pending", done: false };
    if (answer.code === "PG_DECLINED") return { result: "refund_failed", done: true };
    return { result: "error", done: false, detail: `${answer.code}: ${answer.message}` };
  }

  async #reconcileRefund(payment: Payment, refund: RefundRow): Promise<Outcome> {
    // NOT_FOUND is only conclusive once any request the PG might still be chewing on would have arrived.
    const old = this.deps.clock.nowMs() - new Date(refund.updated_at).getTime() >= this.settings.refundAfterMs;
    // An UNKNOWN refund's outcome is asked about promptly, with backoff; one the PG accepted and
    // settles later (PENDING with its reference) is asked about every refundAfterMs, backing off.
    const retryBaseMs = refund.status === "UNKNOWN" ? Math.min(UNKNOWN_REFUND_RETRY_MS, this.settings.refundAfterMs) : this.settings.refundAfterMs;
    switch (await settleRefund(this.deps, payment, refund, "RECONCILER", { failWhenNotFound: old })) {
      case "succeeded":
        return { result: "refund_succeeded", done: true };
      case "pending":
        return { result: "refund_pending", done: false, retryBaseMs };
      case "not_found":
        return { result: "refund_pending", done: false, detail: "the PG has no record of it yet", retryBaseMs };
      case "failed":
        return { result: "refund_failed", done: true };
    }
  }

  /**
   * Runs `check` only if this caller claims the subject; records the result and when to look again
   * (backing off while nothing changes).
   */
  async #claimed(subject: string, kind: "PAYMENT" | "REFUND", check: () => Promise<Outcome>): Promise<Omit<CheckReport, "subject" | "kind">> {
    const claimed = await claimCheck(this.deps.db, subject, kind, this.deps.leaseToken ?? null, CLAIM_MS);
    if (claimed === undefined) return { result: "busy", detail: "another PGB process is checking it" };

    let outcome: Outcome;
    try {
      outcome = await check();
    } catch (error) {
      const message = error instanceof ConnectorError ? `${error.errorClass}: ${error.message}` : (error as Error).message;
      this.#logger.warn({ subject, kind, err: message }, "reconciler could not settle it this time");
      outcome = { result: "error", done: false, detail: message };
    }
    this.metrics.reconcilerActions.inc({ action: outcome.result });
    if (outcome.result !== "unchanged" && outcome.result !== "busy") {
      this.#logger.info({ subject, kind, result: outcome.result, detail: outcome.detail }, "reconciled");
    }
    // Left to a live process (busy): no question was put to the PG, so the backoff does not grow.
    const checks = outcome.result === "busy" ? claimed : claimed + 1;
    const summary = [outcome.result, outcome.detail].filter(Boolean).join(": ").slice(0, 500);
    const report = outcome.detail === undefined ? { result: outcome.result } : { result: outcome.result, detail: outcome.detail };
    // Settled: never selected again; the row stays as the record of the last check.
    if (outcome.done) {
      await recordCheck(this.deps.db, subject, checks, summary, undefined);
      return report;
    }
    const base = Math.max(outcome.retryBaseMs ?? (kind === "PAYMENT" ? this.settings.paymentAfterMs : this.settings.refundAfterMs), 100);
    const backoff = Math.min(this.settings.maxCheckIntervalMs, base * 2 ** Math.min(Math.max(checks - 1, 0), 20));
    let next = new Date(this.deps.clock.nowMs() + backoff);
    if (outcome.nextCheckAt !== undefined && outcome.nextCheckAt < next) next = new Date(Math.max(outcome.nextCheckAt.getTime(), this.deps.clock.nowMs()));
    await recordCheck(this.deps.db, subject, checks, summary, next);
    return report;
  }
}

interface Outcome {
  result: CheckResult;
  /** Nothing left to check for this subject. */
  done: boolean;
  detail?: string;
  /** Check again no later than this (a checkout's expiry). */
  nextCheckAt?: Date;
  /** The first pause before looking again, doubled on each further check (default: paymentAfterMs / refundAfterMs). */
  retryBaseMs?: number;
}

function resultOf(status: Payment["status"]): CheckResult {
  switch (status) {
    case "PAID":
      return "paid";
    case "FAILED":
      return "failed";
    case "EXPIRED":
      return "expired";
    case "WAITING_FOR_DEPOSIT":
      return "deposit_waiting";
    default:
      return "unchanged";
  }
}

/** When an unpaid attempt stops being payable: the virtual account's due date, else the checkout's expiry. */
function deadlineOf(payment: Payment, pgPayment: PgPayment): Date {
  if (payment.status === "WAITING_FOR_DEPOSIT") {
    const due = pgPayment.virtualAccount?.dueDate ?? (payment.pgDetails as { virtualAccount?: { dueDate?: string } } | null)?.virtualAccount?.dueDate;
    const parsed = due === undefined ? NaN : Date.parse(due);
    if (!Number.isNaN(parsed)) return new Date(Math.max(parsed, payment.expiresAt.getTime()));
  }
  return payment.expiresAt;
}
