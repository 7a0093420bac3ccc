/**
 * PayStart: open (or return) the order's checkout at the routed PG.
 *
 * Three short steps so no database transaction is held across a PG call: (1) under the order's lock,
 * decide — return the live checkout, supersede it, or refuse a paid order — and insert the new
 * attempt as INITIATED; (2) ask the PG for a checkout; (3) record it as READY (or FAILED).
 */
import { createHash } from "node:crypto";

import { ConnectorError } from "../../connectors/connector.ts";
import { formatMoney, type Money } from "../money.ts";
import { newId } from "../ids.ts";
import { isCaptured, isLive } from "../payment-state.ts";
import type { PayType } from "../pay-type.ts";
import { routeFor } from "../routing.ts";
import { fail, succeed, type Result } from "../errors.ts";
import { returnUrlFor, tenantConfig, webhookUrlFor, type CoreDeps } from "../deps.ts";
import { connectorFailure } from "./connector-failure.ts";
import { insertPayment, lockOrder, paymentsOfOrder, transition, type Payment } from "../../storage/payment-repository.ts";

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
  paymentId: string;
  checkoutUrl: string;
  pg: string;
  reused: boolean;
}

/** An INITIATED attempt older than this lost its process mid-PayStart; a new PayStart may replace it. */
const ABANDONED_INITIATED_MS = 60_000;

export async function payStart(deps: CoreDeps, input: PayStartInput): Promise<Result<PayStartOutput>> {
  const tenant = tenantConfig(deps, input.tenant);
  if (tenant === undefined) return fail("TENANT_FORBIDDEN", `DBType ${input.tenant} is not configured`);
  const pg = routeFor(tenant.routes, input.nationCode, input.payType);
  if (pg === undefined) return fail("NO_ROUTE", `no PG is routed for NationCode ${input.nationCode} and PayType ${input.payType}`);
  const connector = deps.connectorFor(input.tenant, pg);
  if (connector === undefined) return fail("NO_ROUTE", `PG ${pg} is not available for DBType ${input.tenant}`);

  const fingerprint = fingerprintOf(input, pg);
  const now = deps.now();
  const expiresAt = new Date(now.getTime() + deps.config.checkoutTtlMinutes * 60_000);
  const paymentId = newId("pay");

  const decision = await deps.db.transaction().execute(async (trx) => {
    await lockOrder(trx, input.tenant, input.orderId);
    const attempts = await paymentsOfOrder(trx, input.tenant, input.orderId);
    if (attempts.some((p) => isCaptured(p.status))) return { kind: "paid" as const };
    const live = attempts.find((p) => isLive(p.status));
    let superseded: Payment | undefined;
    if (live !== undefined) {
      const stillOpen = live.expiresAt.getTime() > now.getTime();
      if (live.status !== "INITIATED" && stillOpen && live.requestFingerprint === fingerprint && live.checkoutUrl !== null) {
        return { kind: "reuse" as const, payment: live };
      }
      if (live.status === "INITIATED" && now.getTime() - live.createdAt.getTime() < ABANDONED_INITIATED_MS) {
        return { kind: "busy" as const };
      }
      const to = live.status === "INITIATED" ? "FAILED" : "SUPERSEDED";
      await transition(trx, {
        paymentId: live.id,
        to,
        from: [live.status],
        event: live.status === "INITIATED" ? "ABANDONED" : "SUPERSEDED",
        source: "HOST_API",
        detail: { by: paymentId },
      });
      superseded = live.status === "INITIATED" ? undefined : live;
    }
    await insertPayment(
      trx,
      {
        id: paymentId,
        tenant: input.tenant,
        order_id: input.orderId,
        joiner_id: input.joinerId,
        pay_type: input.payType,
        nation_code: input.nationCode.toUpperCase(),
        currency: input.amount.currency,
        amount: input.amount.minor.toString(),
        description: input.description,
        host_redirect_url: input.redirectUrl,
        request_fingerprint: fingerprint,
        pg,
        status: "INITIATED",
        expires_at: expiresAt,
      },
      "HOST_API",
    );
    return { kind: "created" as const, superseded };
  });

  if (decision.kind === "paid") return fail("ORDER_ALREADY_PAID", `order ${input.orderId} is already paid`);
  if (decision.kind === "busy") return fail("PAYSTART_IN_PROGRESS", `another PayStart for order ${input.orderId} is in progress`);
  if (decision.kind === "reuse") {
    return succeed({ paymentId: decision.payment.id, checkoutUrl: decision.payment.checkoutUrl!, pg: decision.payment.pg, reused: true });
  }
  if (decision.superseded !== undefined) void expireAtPg(deps, decision.superseded);

  try {
    const created = await connector.createCheckout({
      paymentId,
      tenant: input.tenant,
      orderId: input.orderId,
      joinerId: input.joinerId,
      amount: input.amount,
      payType: input.payType,
      nationCode: input.nationCode.toUpperCase(),
      description: input.description,
      returnUrl: returnUrlFor(deps, pg, paymentId),
      webhookUrl: webhookUrlFor(deps, pg, input.tenant),
      expiresAt,
      idempotencyKey: paymentId,
    });
    await deps.db.transaction().execute((trx) =>
      transition(trx, {
        paymentId,
        to: "READY",
        from: ["INITIATED"],
        event: "CHECKOUT_CREATED",
        source: "HOST_API",
        detail: { pgTransactionId: created.pgTransactionId, amount: formatMoney(input.amount), currency: input.amount.currency },
        patch: { pg_transaction_id: created.pgTransactionId, checkout_url: created.checkoutUrl },
      }),
    );
    return succeed({ paymentId, checkoutUrl: created.checkoutUrl, pg, reused: false });
  } catch (error) {
    if (!(error instanceof ConnectorError)) throw error;
    deps.logger.warn({ paymentId, pg, errorClass: error.errorClass, pgCode: error.pgCode, err: error.message }, "PG refused to create a checkout");
    await deps.db.transaction().execute((trx) =>
      transition(trx, {
        paymentId,
        to: "FAILED",
        from: ["INITIATED"],
        event: "CHECKOUT_FAILED",
        source: "HOST_API",
        detail: { errorClass: error.errorClass, pgCode: error.pgCode ?? null, message: error.message },
        patch: { failure_code: error.pgCode ?? error.errorClass.toUpperCase(), failure_message: error.message },
      }),
    );
    return connectorFailure(error, "create the checkout");
  }
}

/** Best effort: a superseded checkout should not stay payable. The reconciler retries what fails here. */
async function expireAtPg(deps: CoreDeps, payment: Payment): Promise<void> {
  if (payment.pgTransactionId === null) return;
  try {
    await deps.connectorFor(payment.tenant, payment.pg)?.expireCheckout({ pgTransactionId: payment.pgTransactionId, paymentReference: payment.id });
  } catch (error) {
    deps.logger.warn({ paymentId: payment.id, err: (error as Error).message }, "could not expire a superseded checkout at the PG");
  }
}

function fingerprintOf(input: PayStartInput, pg: string): string {
  const canonical = JSON.stringify([pg, input.amount.minor.toString(), input.amount.currency, input.payType, input.nationCode.toUpperCase(), input.joinerId, input.description, input.redirectUrl]);
  return createHash("sha256").update(canonical).digest("hex");
}

