/**
 * Where PGs and customers' browsers come back to PGB: per-tenant webhook intake and the browser
 * return. Paths are generic; what a PG's request means is the connector's business.
 */
import formbody from "@fastify/formbody";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { CoreDeps } from "../core/deps.ts";
import { browserReturn } from "../core/use-cases/browser-return.ts";
import { receiveWebhook } from "../core/use-cases/receive-webhook.ts";
import { escapeHtml } from "./html.ts";

const WebhookParams = z.object({ pg: z.string().regex(/^[a-z0-9_-]{1,32}$/i), tenant: z.string().min(1).max(64) });
const ReturnParams = z.object({ pg: z.string().regex(/^[a-z0-9_-]{1,32}$/i), paymentId: z.string().regex(/^pay_[0-9a-z]{1,64}$/) });

export function registerPgRoutes(app: FastifyInstance, deps: CoreDeps): void {
  // Webhook signatures are over the exact bytes the PG sent: keep the raw body, parse nothing.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));
    scope.post("/PGBReturn/:pg/webhook/:tenant", async (request, reply) => {
      const params = WebhookParams.safeParse(request.params);
      if (!params.success) return reply.code(404).send({ received: false, error: "unknown webhook path" });
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const result = await receiveWebhook(deps, params.data.pg.toUpperCase(), params.data.tenant, { headers: request.headers, rawBody });
      return reply.code(result.status).send(result.body);
    });
  });

  void app.register(async (scope) => {
    await scope.register(formbody);
    const handler = async (request: import("fastify").FastifyRequest, reply: import("fastify").FastifyReply) => {
      const params = ReturnParams.safeParse(request.params);
      if (!params.success) return reply.code(404).type("text/html; charset=utf-8").send(notFound());
      const query = { ...stringsOf(request.query), ...stringsOf(request.body) };
      const outcome = await browserReturn(deps, params.data.pg.toUpperCase(), params.data.paymentId, query);
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
