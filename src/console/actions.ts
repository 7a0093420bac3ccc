/**
 * What operators can do, each behind its role, a CSRF token and an explicit confirmation, each
 * written to the audit log whatever its outcome. Refunds go through cancelPayment, the host's own
 * use case, so every rule of PartialCancel/FullCancel holds (balance, one refund at a time,
 * idempotency key per form).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { CoreDeps } from "../core/deps.ts";
import { formatMinor, parseMoney } from "../core/money.ts";
import { cancelPayment } from "../core/use-cases/cancel-payment.ts";
import { acknowledgeAlert, findAlert } from "../storage/alert-repository.ts";
import { dueNow } from "../storage/console-queries.ts";
import { appendAudit, type AuditEntry, type ConsoleDb } from "../storage/operator-repository.ts";
import { balanceOf, findPayment, type Payment } from "../storage/payment-repository.ts";
import { findNotificationForReplay, replayNotifications } from "../storage/notification-repository.ts";
import type { Reconciler } from "../workers/reconciler.ts";
import { can, canSeeTenant, type Permission } from "./auth.ts";
import { html } from "./html.ts";
import { barePage } from "./layout.ts";
import { brand, type PaymentId } from "../core/ids.ts";

type Body = Record<string, string | undefined>;

export function registerActions(scope: FastifyInstance, deps: CoreDeps, db: ConsoleDb, reconciler: Reconciler): void {
  const csrf = { preHandler: scope.csrfProtection };

  const audit = (request: FastifyRequest, entry: Omit<AuditEntry, "operatorId" | "operator">) =>
    appendAudit(db, { operatorId: request.operator!.id, operator: request.operator!.username, ...entry, detail: { ...entry.detail, ip: request.ip } });

  /** Role, tenant and confirmation checks shared by every action; answers the refusal itself. */
  async function guard(
    request: FastifyRequest,
    reply: FastifyReply,
    permission: Permission,
    action: string,
    tenant: string | undefined,
    target: { paymentId?: string; target?: string },
    confirm = true,
  ): Promise<boolean> {
    const operator = request.operator!;
    if (tenant === undefined || !canSeeTenant(operator, tenant)) {
      await reply
        .code(404)
        .type("text/html; charset=utf-8")
        .send(barePage("en", "404", html`<p role="alert">No such record, or not one you may see.</p>`));
      return false;
    }
    if (!can(operator, permission)) {
      await audit(request, { action, outcome: "forbidden", tenant, ...target, detail: { role: operator.role } });
      await reply
        .code(403)
        .type("text/html; charset=utf-8")
        .send(barePage("en", "403", html`<p role="alert">Your role (${operator.role}) may not ${action.replace(/^\w+\./, "")}.</p>`));
      return false;
    }
    if (confirm && (request.body as Body | undefined)?.confirm !== "yes") {
      await reply
        .code(400)
        .type("text/html; charset=utf-8")
        .send(barePage("en", "400", html`<p role="alert">Tick the confirmation box to ${action.replace(/^\w+\./, "")}.</p>`));
      return false;
    }
    return true;
  }

  const backTo = (request: FastifyRequest, reply: FastifyReply, path: string, kind: "ok" | "error", text: string) => {
    request.session.flash = { kind, text };
    return reply.code(303).redirect(path);
  };

  const state = async (payment: Payment) => {
    const fresh = (await findPayment(deps.db, payment.id)) ?? payment;
    const balance = await balanceOf(deps.db, fresh);
    return { status: fresh.status, remaining: formatMinor(balance.remaining, fresh.currency) };
  };

  scope.post<{ Params: { id: string }; Body: Body }>("/console/payments/:id/sync", csrf, async (request, reply) => {
    const payment = await findPayment(deps.db, brand<PaymentId>(request.params.id));
    if (!(await guard(request, reply, "sync", "payment.sync", payment?.tenant, { paymentId: request.params.id }))) return reply;
    const before = await state(payment!);
    const checks = (await reconciler.syncOrder(payment!.tenant, payment!.orderId)) ?? [];
    const after = await state(payment!);
    await audit(request, {
      action: "payment.sync",
      outcome: "ok",
      tenant: payment!.tenant,
      paymentId: payment!.id,
      before,
      after,
      detail: { checks: checks.map((c) => ({ subject: c.subject, result: c.result })) },
    });
    const summary = checks.length ? checks.map((c) => `${c.subject}: ${c.result}`).join(", ") : "nothing open to ask the PG about";
    return backTo(request, reply, `/console/payments/${payment!.id}`, "ok", `Synced with the PG: ${summary}`);
  });

  scope.post<{ Params: { id: string }; Body: Body }>("/console/payments/:id/expire", csrf, async (request, reply) => {
    const payment = await findPayment(deps.db, brand<PaymentId>(request.params.id));
    if (!(await guard(request, reply, "expire", "payment.expire", payment?.tenant, { paymentId: request.params.id }))) return reply;
    const before = await state(payment!);
    const marked = await dueNow(db, payment!.id, request.operator!.username);
    const report = marked ? await reconciler.checkPayment(payment!.id) : undefined;
    const after = await state(payment!);
    await audit(request, {
      action: "payment.expire",
      outcome: marked ? "ok" : "refused",
      tenant: payment!.tenant,
      paymentId: payment!.id,
      before,
      after,
      detail: { result: report?.result ?? "not open" },
    });
    return backTo(
      request,
      reply,
      `/console/payments/${payment!.id}`,
      marked ? "ok" : "error",
      marked ? `Expiry: ${report!.result}${report!.detail ? ` (${report!.detail})` : ""}, now ${after.status}` : `The checkout is ${before.status}, not open`,
    );
  });

  scope.post<{ Params: { id: string }; Body: Body }>("/console/payments/:id/refund", csrf, async (request, reply) => {
    const payment = await findPayment(deps.db, brand<PaymentId>(request.params.id));
    if (!(await guard(request, reply, "refund", "payment.refund", payment?.tenant, { paymentId: request.params.id }))) return reply;
    const p = payment!;
    const body = request.body;
    const page = `/console/payments/${p.id}`;
    const reason = (body.reason ?? "").trim().slice(0, 200);
    const current = /^\d{1,16}$/.test(body.current ?? "") ? BigInt(body.current!) : undefined;
    const amountText = (body.amount ?? "").trim();
    const amount = amountText === "" ? undefined : parseMoney(amountText, p.currency);
    const idempotencyKey = /^console-[0-9a-f-]{36}$/.test(body.idempotencyKey ?? "") ? body.idempotencyKey : undefined;
    const invalid = !reason
      ? "a reason is required"
      : current === undefined
        ? "the form lost the balance it was shown; reload the page"
        : amount !== undefined && !amount.ok
          ? `amount: not a ${p.currency} amount`
          : idempotencyKey === undefined
            ? "reload the page"
            : undefined;
    if (invalid !== undefined) {
      await audit(request, { action: "payment.refund", outcome: "refused", tenant: p.tenant, paymentId: p.id, detail: { error: invalid } });
      return backTo(request, reply, page, "error", `Refund refused: ${invalid}`);
    }
    const refund = amount?.ok ? amount.value : undefined;
    const before = await state(p);
    const result = await cancelPayment(deps, {
      tenant: p.tenant,
      orderId: p.orderId,
      nationCode: p.nationCode,
      current: { minor: current!, currency: p.currency },
      refund,
      modified: refund === undefined ? undefined : { minor: current! - refund.minor, currency: p.currency },
      idempotencyKey,
      reason: `console ${request.operator!.username}: ${reason}`,
      source: "OPERATOR",
    });
    const after = await state(p);
    if (!result.ok) {
      await audit(request, {
        action: "payment.refund",
        outcome: "refused",
        tenant: p.tenant,
        paymentId: p.id,
        before,
        after,
        detail: { reason, amount: amountText || "ALL", error: result.code, message: result.message },
      });
      return backTo(request, reply, page, "error", `Refund refused: ${result.code} ${result.message}`);
    }
    const r = result.value;
    await audit(request, {
      action: "payment.refund",
      outcome: "ok",
      tenant: p.tenant,
      paymentId: p.id,
      target: r.refundId,
      before,
      after,
      detail: { reason, amount: formatMinor(r.refunded, r.currency), refundId: r.refundId, refundStatus: r.refundStatus, replayed: r.replayed },
    });
    return backTo(
      request,
      reply,
      page,
      "ok",
      `Refunded ${formatMinor(r.refunded, r.currency)} ${r.currency} (${r.refundStatus}${r.replayed ? ", already done" : ""}); remaining ${formatMinor(r.balanceAfter, r.currency)} ${r.currency}`,
    );
  });

  scope.post<{ Params: { id: string }; Body: Body }>("/console/notifications/:id/replay", csrf, async (request, reply) => {
    const n = await findNotificationForReplay(deps.db, request.params.id);
    if (!(await guard(request, reply, "replay", "notification.replay", n?.tenant, { paymentId: n?.payment_id, target: request.params.id }))) return reply;
    const replayed = await replayNotifications(deps.db, n!.tenant, { id: n!.id });
    await audit(request, {
      action: "notification.replay",
      outcome: replayed.length ? "ok" : "refused",
      tenant: n!.tenant,
      paymentId: n!.payment_id,
      target: n!.id,
      before: { status: n!.status },
      after: { status: replayed.length ? "PENDING" : n!.status },
    });
    return backTo(
      request,
      reply,
      `/console/payments/${n!.payment_id}`,
      replayed.length ? "ok" : "error",
      replayed.length ? `Notification ${n!.id} (${n!.type}) queued again` : `Notification ${n!.id} is ${n!.status}, not DEAD; nothing replayed`,
    );
  });

  scope.post<{ Params: { id: string }; Body: Body }>("/console/alerts/:id/ack", csrf, async (request, reply) => {
    const id = /^\d{1,18}$/.test(request.params.id) ? request.params.id : "0";
    const alert = await findAlert(db, id);
    // An alert about no tenant (a PG webhook given up) is every operator's.
    const tenant = alert === undefined ? undefined : (alert.tenant ?? request.operator!.tenants?.[0] ?? "");
    // The note is the confirmation here.
    if (!(await guard(request, reply, "acknowledge", "alert.acknowledge", tenant, { paymentId: alert?.payment_id ?? undefined, target: `alert:${id}` }, false)))
      return reply;
    const note = (request.body.note ?? "").trim().slice(0, 500);
    if (!note) return backTo(request, reply, "/console/alerts", "error", "Write a note saying what was done");
    const done = await acknowledgeAlert(db, id, request.operator!.username, note);
    await audit(request, {
      action: "alert.acknowledge",
      outcome: done ? "ok" : "refused",
      tenant: alert!.tenant,
      paymentId: alert!.payment_id,
      target: `alert:${id}`,
      before: { acknowledged: alert!.acknowledged_at !== null },
      after: { acknowledged: true, note },
    });
    return backTo(request, reply, "/console/alerts", done ? "ok" : "error", done ? `Alert ${alert!.type} acknowledged` : "That alert was acknowledged already");
  });
}
