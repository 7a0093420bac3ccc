/**
 * PayStart: open (or return) the order's checkout at the routed PG.
 *
 * No database transaction is held across the PG call, and the hot path costs one read and one short
 * transaction: (1) read the order's attempts — refuse a paid order, return a live checkout with the
 * same request; (2) ask the PG for a checkout (idempotent on the new payment id); (3) in one
 * transaction supersede the old live attempt (guarded on the state read in 1) and insert the new one
 * as READY. The partial unique indexes on payments are the lock: a PayStart racing another for the
 * same order loses with PAYSTART_IN_PROGRESS and its checkout is expired at the PG.
 *
 * A crash between (2) and (3) leaves a checkout at the PG that nobody was given the URL of; it expires
 * there unpaid.
 *
 * The superseded checkout is closed at the PG before PayStart answers (within a time budget), so a host
 * that has the new URL cannot meet a customer still paying the old one. The close is recorded
 * (checkout_closes) in the superseding transaction under this process's lease: done, the row goes; a
 * close that fails, or a process that dies first, leaves it to the take-over worker of any process.
 */
import { createHash } from "node:crypto";
import { ConnectorError, type Connector } from "../ports/connector.ts";
import { formatMoney, type Money } from "../money.ts";
import { newPaymentId, type PaymentId, type PgTransactionId } from "../ids.ts";
import { isCaptured, isLive } from "../payment-state.ts";
import type { PayType } from "../pay-type.ts";
import { routeFor } from "../routing.ts";
import { fail, succeed, type Result } from "../errors.ts";
import { returnUrlFor, tenantConfig, webhookUrlFor, type CoreDeps } from "../deps.ts";
import { connectorFailure } from "./connector-failure.ts";
import { insertPayment, isUniqueViolation, paymentsOfOrder, transition, type Payment } from "../../storage/payment-repository.ts";
import { finishCheckoutClose, recordCheckoutClose, releaseCheckoutClose } from "../../storage/lease-repository.ts";

export interface PayStartInput {
  tenant: string;
  orderId: number;
  joinerId: number;
  payType: PayType;
  amount: Money;
  nationCode: string;
  description: string;
  redirectUrl: string;
}

export interface PayStartOutput {
  paymentId: PaymentId;
  checkoutUrl: string;
  pg: string;
  reused: boolean;
}

export async function payStart(deps: CoreDeps, input: PayStartInput): Promise<Result<PayStartOutput>> {
  const tenant = tenantConfig(deps, input.tenant);
  if (tenant === undefined) return fail("TENANT_FORBIDDEN", `DBType ${input.tenant} is not configured`);
  const pg = routeFor(tenant.routes, input.nationCode, input.payType);
  if (pg === undefined) return fail("NO_ROUTE", `no PG is routed for NationCode ${input.nationCode} and PayType ${input.payType}`);
  const connector = deps.connectorFor(input.tenant, pg);
  if (connector === undefined) return fail("NO_ROUTE", `PG ${pg} is not available for DBType ${input.tenant}`);

  const fingerprint = fingerprintOf(input, pg);
  const now = deps.clock.now();

  const attempts = await paymentsOfOrder(deps.db, input.tenant, input.orderId);
  if (attempts.some((p) => isCaptured(p.status))) return fail("ORDER_ALREADY_PAID", `order ${input.orderId} is already paid`);
  const live = attempts.find((p) => isLive(p.status));
  if (live !== undefined && live.expiresAt > now && live.requestFingerprint === fingerprint && live.checkoutUrl !== null) {
    return succeed({ paymentId: live.id, checkoutUrl: live.checkoutUrl, pg: live.pg, reused: true });
  }

  const paymentId = newPaymentId(deps.clock);
  // A PG whose checkouts die sooner than PGB's TTL (KakaoPay's 15-minute tid) shortens it.
  const ttlMinutes = Math.min(deps.config.checkoutTtlMinutes, deps.capabilitiesOf(pg)?.maxCheckoutMinutes ?? Infinity);
  const expiresAt = new Date(now.getTime() + ttlMinutes * 60_000);
  let created;
  try {
    created = await connector.createCheckout({
      paymentId,
      tenant: input.tenant,
      orderId: input.orderId,
      joinerId: input.joinerId,
      amount: input.amount,
      payType: input.payType,
      nationCode: input.nationCode,
      description: input.description,
      returnUrl: returnUrlFor(deps, pg, paymentId),
      webhookUrl: webhookUrlFor(deps, pg, input.tenant),
      expiresAt,
      idempotencyKey: paymentId,
    });
  } catch (error) {
    if (!(error instanceof ConnectorError)) throw error;
    deps.logger.warn({ paymentId, pg, errorClass: error.errorClass, pgCode: error.pgCode, err: error.message }, "PG refused to create a checkout");
    return connectorFailure(error, "create the checkout");
  }

  const row = {
    id: paymentId,
    tenant: input.tenant,
    order_id: input.orderId,
    joiner_id: input.joinerId,
    pay_type: input.payType,
    nation_code: input.nationCode,
    currency: input.amount.currency,
    amount: input.amount.minor.toString(),
    description: input.description,
    host_redirect_url: input.redirectUrl,
    request_fingerprint: fingerprint,
    pg,
    pg_transaction_id: created.pgTransactionId,
    checkout_url: created.checkoutUrl,
    status: "READY",
    expires_at: expiresAt,
  };
  const event = {
    to: "READY" as const,
    event: "CHECKOUT_CREATED",
    source: "HOST_API" as const,
    detail: { pgTransactionId: created.pgTransactionId, amount: formatMoney(input.amount), currency: input.amount.currency },
  };
  let outcome: "created" | "race" | "paid";
  try {
    if (live === undefined) {
      await insertPayment(deps.db, row, event);
      outcome = "created";
    } else {
      outcome = await deps.db.transaction().execute(async (trx) => {
        const superseded = await transition(trx, deps.clock, {
          paymentId: live.id,
          to: "SUPERSEDED",
          expected: live.status,
          event: "SUPERSEDED",
          source: "HOST_API",
          detail: { by: paymentId },
        });
        // The attempt moved since we read it: paid by its customer, or superseded by a racing PayStart.
        if (superseded === undefined) return (await paymentsOfOrder(trx, input.tenant, input.orderId)).some((p) => isCaptured(p.status)) ? "paid" : "race";
        await insertPayment(trx, row, event);
        await recordCheckoutClose(trx, live.id, deps.leaseToken ?? null);
        return "created";
      });
    }
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    outcome = "race";
  }

  if (outcome !== "created") {
    void expireQuietly(deps, connector, created.pgTransactionId, paymentId);
    return outcome === "paid"
      ? fail("ORDER_ALREADY_PAID", `order ${input.orderId} is already paid`)
      : fail("PAYSTART_IN_PROGRESS", `another PayStart for order ${input.orderId} ran at the same time; retry to get its checkout`);
  }
  if (live !== undefined) await withinBudget(expireAtPg(deps, live), deps.config.supersedeCloseBudgetMs ?? 3_000);
  return succeed({ paymentId, checkoutUrl: created.checkoutUrl, pg, reused: false });
}

/** Waits for `work` at most `budgetMs`; the work goes on (and logs its own failure) past that. */
async function withinBudget(work: Promise<void>, budgetMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, budgetMs);
  });
  try {
    await Promise.race([work, budget]);
  } finally {
    clearTimeout(timer);
  }
}

/** A superseded checkout must not stay payable: closed here, or handed to the take-over worker. */
async function expireAtPg(deps: CoreDeps, payment: Payment): Promise<void> {
  const connector = deps.connectorFor(payment.tenant, payment.pg);
  try {
    if (payment.pgTransactionId !== null && connector !== undefined) {
      await connector.expireCheckout({ pgTransactionId: payment.pgTransactionId, paymentReference: payment.id });
    }
    await finishCheckoutClose(deps.db, payment.id);
  } catch (error) {
    deps.logger.warn({ paymentId: payment.id, err: (error as Error).message }, "could not close the superseded checkout at the PG; another pass will");
    await releaseCheckoutClose(deps.db, payment.id, (error as Error).message).catch(() => undefined);
  }
}

async function expireQuietly(deps: CoreDeps, connector: Connector, pgTransactionId: PgTransactionId, paymentId: PaymentId): Promise<void> {
  try {
    await connector.expireCheckout({ pgTransactionId, paymentReference: paymentId });
  } catch (error) {
    deps.logger.warn({ paymentId, err: (error as Error).message }, "could not expire a checkout at the PG");
  }
}

function fingerprintOf(input: PayStartInput, pg: string): string {
  const canonical = JSON.stringify([
    pg,
    input.amount.minor.toString(),
    input.amount.currency,
    input.payType,
    input.nationCode,
    input.joinerId,
    input.description,
    input.redirectUrl,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}
