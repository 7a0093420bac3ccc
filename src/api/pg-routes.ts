/**
 * Where PGs and customers' browsers come back to PGB: per-tenant webhook intake and the browser
 * return. Paths are generic; what a PG's request means is the connector's business.
 */
import formbody from "@fastify/formbody";
import rateLimit from "@fastify/rate-limit";
import type { FastifyError, FastifyInstance } from "fastify";
import { z } from "zod";
import type { CoreDeps } from "../core/deps.ts";
import { browserReturn } from "../core/use-cases/browser-return.ts";
import { receiveWebhook } from "../core/use-cases/receive-webhook.ts";
import { escapeHtml } from "../html.ts";
import { brand, type PaymentId } from "../core/ids.ts";

const WebhookParams = z.object({ tenant: z.string().min(1).max(64) });
const ReturnParams = z.object({ pg: z.string().regex(/^[a-z0-9_-]{1,32}$/i), paymentId: z.string().regex(/^pay_[0-9a-z]{1,64}$/) });

export interface WebhookLimits {
  /** Per source address and tenant. */
  rateLimit: { max: number; windowMs: number };
  /** Per PG: the largest body that PG really sends (declared by its connector). */
  bodyLimits: ReadonlyMap<string, number>;
}

export function registerPgRoutes(app: FastifyInstance, deps: CoreDeps, limits: WebhookLimits): void {
  // Webhook signatures are over the exact bytes the PG sent: keep the raw body, parse nothing.
  void app.register(async (scope) => {
    // The path is open to anyone: bound what one address can make PGB read and store for a tenant.
    await scope.register(rateLimit, {
      max: limits.rateLimit.max,
      timeWindow: limits.rateLimit.windowMs,
      keyGenerator: (request) => `${request.ip}|${(request.params as { tenant?: string }).tenant ?? ""}`,
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        received: false,
        error: `too many webhooks from this address for this tenant; retry in ${context.after}`,
      }),
    });
    scope.removeAllContentTypeParsers();
    // No bodyLimit here: each route's own (its PG's) applies.
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return reply.code(413).send({ received: false, error: "body larger than this PG sends" });
      // @fastify/rate-limit throws what errorResponseBuilder built.
      if (error.statusCode === 429) return reply.code(429).send({ received: false, error: (error as { error?: string }).error ?? "too many webhooks" });
      throw error;
    });
    for (const [pg, bodyLimit] of limits.bodyLimits) {
      scope.post(`/PGBReturn/${pg.toLowerCase()}/webhook/:tenant`, { bodyLimit }, async (request, reply) => {
        const params = WebhookParams.safeParse(request.params);
        if (!params.success) return reply.code(404).send({ received: false, error: "unknown webhook path" });
        const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const result = await receiveWebhook(deps, pg, params.data.tenant, { headers: request.headers, rawBody });
        return reply.code(result.status).send(result.body);
      });
    }
    scope.post("/PGBReturn/:pg/webhook/:tenant", { bodyLimit: 1024 }, async (_request, reply) =>
      reply.code(404).send({ received: false, error: "unknown webhook path" }),
    );
  });

  void app.register(async (scope) => {
    await scope.register(formbody);
    const handler = async (request: import("fastify").FastifyRequest, reply: import("fastify").FastifyReply) => {
      const params = ReturnParams.safeParse(request.params);
      if (!params.success) return reply.code(404).type("text/html; charset=utf-8").send(notFound());
      const query = { ...stringsOf(request.query), ...stringsOf(request.body) };
      const outcome = await browserReturn(deps, params.data.pg.toUpperCase(), brand<PaymentId>(params.data.paymentId), query);
      if (outcome.kind === "not-found") return reply.code(404).type("text/html; charset=utf-8").send(notFound());
      return reply.code(303).header("location", outcome.location).header("cache-control", "no-store").send();
    };
    scope.get("/PGBReturn/:pg/return/:paymentId", handler);
    scope.post("/PGBReturn/:pg/return/:paymentId", handler);
  });
}

function stringsOf(value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object") return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}

function notFound(): string {
  return `<!doctype html><meta charset="utf-8"><title>Not found</title><p>${escapeHtml("This payment link is not valid.")}</p>`;
}
