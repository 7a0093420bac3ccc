/**
 * Operations routes (issue 3), next to the host API and authenticated the same way (a tenant's API
 * key acts on its own DBType only):
 *
 * - POST /PGB/Sync {DBType, OrderId}: ask the PG about the order now (reconciler) and answer the
 *   order's payment as GET /PGB/Payment does, plus what each check concluded.
 * - GET /PGB/Notifications?DBType=&OrderId=: every notification of the order, in order, with each
 *   delivery attempt (time, HTTP status, error, next attempt).
 * - POST /PGB/Notifications/Replay {DBType, NotificationId | OrderId}: DEAD notifications back to
 *   PENDING with a fresh attempt budget.
 * - GET /metrics: Prometheus (no key; expose it on an internal network only).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { CoreDeps } from "../core/deps.ts";
import { getOrderPayment } from "../core/use-cases/get-order-payment.ts";
import type { PgbMetrics } from "../workers/metrics.ts";
import { attemptsOfNotifications, notificationsOfOrder, notificationStatus, replayNotifications } from "../storage/notification-repository.ts";
import { orderHasPayment } from "../storage/payment-repository.ts";
import type { Reconciler } from "../workers/reconciler.ts";
import { ApiKeyIndex, requireTenantKey } from "./auth.ts";
import { bindCaseInsensitive } from "./case-insensitive.ts";
import { sendFailure, sendResult } from "./host-result.ts";
import { firstIssue, PaymentQuerySchema } from "./host-schemas.ts";
import { ROUTE_DOCS } from "./openapi/api-docs.ts";

const INT32_MAX = 2_147_483_647;
const orderIdSchema = z
  .number({ error: "must be an integer number" })
  .int("must be an integer")
  .min(1, "must be at least 1")
  .max(INT32_MAX, "is larger than a 32-bit int");
const dbTypeSchema = z.string({ error: "is required" }).trim().min(1, "must not be empty").max(64);

const SyncBodySchema = z.object({ DBType: dbTypeSchema, OrderId: orderIdSchema });
const ReplayBodySchema = z
  .object({
    DBType: dbTypeSchema,
    NotificationId: z
      .string()
      .regex(/^msg_[0-9a-z]{1,64}$/, "must be a notification id (msg_…)")
      .nullish(),
    OrderId: orderIdSchema.nullish(),
  })
  .refine((b) => (b.NotificationId == null) !== (b.OrderId == null), { message: "give either NotificationId or OrderId", path: ["NotificationId"] });

export function registerOpsRoutes(app: FastifyInstance, deps: CoreDeps, ops: { metrics: PgbMetrics; reconciler: Reconciler }): void {
  const keys = new ApiKeyIndex(deps.config.tenants);
  const db = deps.db;

  app.get("/metrics", async (_request, reply) => {
    const body = await ops.metrics.registry.metrics();
    return reply.type(ops.metrics.registry.contentType).send(body);
  });

  void app.register(async (scope) => {
    requireTenantKey(scope, keys);

    scope.post("/PGB/Sync", ROUTE_DOCS.sync, async (request, reply) => {
      const bound = bindCaseInsensitive(request.body, ["DBType", "OrderId"]);
      if (!bound.ok) return sendResult(reply, "INVALID_FIELD", bound.message);
      const body = SyncBodySchema.safeParse(bound.value);
      if (!body.success) return sendResult(reply, "INVALID_FIELD", firstIssue(body.error));
      if (body.data.DBType !== request.tenant) return sendResult(reply, "TENANT_FORBIDDEN", `this API key does not act on DBType ${body.data.DBType}`);
      const checks = await ops.reconciler.syncOrder(body.data.DBType, body.data.OrderId);
      if (checks === undefined) return sendResult(reply, "ORDER_NOT_FOUND", `no payment for order ${body.data.OrderId}`);
      const view = await getOrderPayment(deps, body.data.DBType, body.data.OrderId);
      if (!view.ok) return sendFailure(reply, view);
      return sendResult(reply, "OK", null, {
        ...view.value,
        Checks: checks.map((c) => ({ Subject: c.subject, Kind: c.kind, Result: c.result.toUpperCase(), Detail: c.detail ?? null })),
      });
    });

    scope.get("/PGB/Notifications", ROUTE_DOCS.notifications, async (request, reply) => {
      const bound = bindCaseInsensitive(request.query, ["DBType", "OrderId"]);
      if (!bound.ok) return sendResult(reply, "INVALID_FIELD", bound.message);
      const query = PaymentQuerySchema.safeParse(bound.value);
      if (!query.success) return sendResult(reply, "INVALID_FIELD", firstIssue(query.error));
      if (query.data.DBType !== request.tenant) return sendResult(reply, "TENANT_FORBIDDEN", "this API key does not act on that DBType");
      const notifications = await notificationsOfOrder(db, query.data.DBType, query.data.OrderId);
      if (notifications.length === 0 && !(await orderHasPayment(db, query.data.DBType, query.data.OrderId))) {
        return sendResult(reply, "ORDER_NOT_FOUND", `no payment for order ${query.data.OrderId}`);
      }
      const attempts =
        notifications.length === 0
          ? []
          : await attemptsOfNotifications(
              db,
              notifications.map((n) => n.id),
            );
      const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
      return sendResult(reply, "OK", null, {
        DBType: query.data.DBType,
        OrderId: query.data.OrderId,
        Notifications: notifications.map((n) => ({
          NotificationId: n.id,
          Seq: String(n.seq),
          PaymentId: n.payment_id,
          Type: n.type,
          Status: n.status,
          Attempts: n.attempts,
          NextAttemptAt: n.status === "PENDING" ? iso(n.next_attempt_at) : null,
          LastError: n.last_error,
          DeliveredAt: iso(n.delivered_at),
          ReplayedAt: iso(n.replayed_at),
          CreatedAt: iso(n.created_at),
          Payload: n.payload,
          AttemptLog: attempts
            .filter((a) => a.notification_id === n.id)
            .map((a) => ({
              Attempt: a.attempt,
              At: iso(a.started_at),
              DurationMs: a.duration_ms,
              StatusCode: a.status_code,
              Error: a.error,
              Outcome: a.outcome,
              NextAttemptAt: iso(a.next_attempt_at),
            })),
        })),
      });
    });

    scope.post("/PGB/Notifications/Replay", ROUTE_DOCS.replay, async (request, reply) => {
      const bound = bindCaseInsensitive(request.body, ["DBType", "NotificationId", "OrderId"]);
      if (!bound.ok) return sendResult(reply, "INVALID_FIELD", bound.message);
      const body = ReplayBodySchema.safeParse(bound.value);
      if (!body.success) return sendResult(reply, "INVALID_FIELD", firstIssue(body.error));
      const tenant = body.data.DBType;
      if (tenant !== request.tenant) return sendResult(reply, "TENANT_FORBIDDEN", `this API key does not act on DBType ${tenant}`);
      const id = body.data.NotificationId ?? undefined;
      const replayed = await replayNotifications(db, tenant, id !== undefined ? { id } : { orderId: body.data.OrderId! });
      if (replayed.length === 0 && id !== undefined) {
        const status = await notificationStatus(db, tenant, id);
        if (status === undefined) return sendResult(reply, "NOT_FOUND", `no notification ${id} for DBType ${tenant}`);
        // Not dead: nothing to replay. Still a success, so an operator's retried click is harmless.
        return sendResult(reply, "OK", `notification ${id} is ${status}, not DEAD; nothing replayed`, { Replayed: [] });
      }
      return sendResult(reply, "OK", null, { Replayed: replayed });
    });
  });
}
