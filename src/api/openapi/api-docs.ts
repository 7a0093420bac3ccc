/**
 * The OpenAPI 3.1 document (`/openapi.json`) and its rendering for people (`/docs`, Swagger UI served
 * from the installed package, no CDN). @fastify/swagger collects the routes; fastify-type-provider-zod
 * turns their Zod schemas into JSON Schema.
 *
 * The schemas on host and operations routes document; they do not validate. Binding stays in the
 * handlers (case-insensitive, with the host's alternative spellings, and every failure answered in the
 * host's result shape), so the route options below install pass-through compilers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, RouteOptions, RouteShorthandOptions } from "fastify";
import { z } from "zod";
import { PaymentQuerySchema } from "../host-schemas.ts";
import { sendResult } from "../host-result.ts";
import { lazySchemaCompilers } from "../schema-compilers.ts";
import {
  BODY_ALIASES,
  CancelResult,
  ERROR_RESPONSES,
  FullCancelWire,
  IdempotencyHeaders,
  NotificationBody,
  NotificationsResult,
  PartialCancelWire,
  PaymentView,
  PayStartResult,
  PayStartWire,
  ReplayResult,
  SyncResult,
} from "./wire-schemas.ts";

const documentOnly: Pick<RouteShorthandOptions, "validatorCompiler" | "serializerCompiler"> = {
  validatorCompiler: () => () => true,
  serializerCompiler: () => (data) => JSON.stringify(data),
};

function route(schema: FastifySchema & Record<string, unknown>, success: z.ZodType): RouteShorthandOptions {
  return { ...documentOnly, schema: { ...schema, response: { 200: success, ...ERROR_RESPONSES } } };
}

/** Bodies and query strings are bound case-insensitively, with these other accepted spellings. */
const binding = (aliases: Readonly<Record<string, string>> = {}) => ({ "x-pgb-binding": { caseInsensitive: true, aliases } });
const OrderBody = z.object({ DBType: z.string(), OrderId: z.number().int().min(1) });
const ReplayBody = z
  .object({
    DBType: z.string(),
    NotificationId: z
      .string()
      .regex(/^msg_[0-9a-z]{1,64}$/)
      .nullish(),
    OrderId: z.number().int().min(1).nullish(),
  })
  .describe("NotificationId, or OrderId for all of the order's DEAD notifications");

export const ROUTE_DOCS = {
  payStart: route(
    {
      operationId: "PayStart",
      tags: ["Host API"],
      summary: "Start a payment: answers where to send the browser",
      body: PayStartWire,
      ...binding(BODY_ALIASES.PayStartRequest),
    },
    PayStartResult,
  ),
  partialCancel: route(
    {
      operationId: "PartialCancel",
      tags: ["Host API"],
      summary: "Refund part of a paid order",
      body: PartialCancelWire,
      headers: IdempotencyHeaders,
      ...binding(BODY_ALIASES.PartialCancelRequest),
    },
    CancelResult,
  ),
  fullCancel: route(
    {
      operationId: "FullCancel",
      tags: ["Host API"],
      summary: "Refund the whole remaining balance",
      body: FullCancelWire,
      headers: IdempotencyHeaders,
      ...binding(BODY_ALIASES.FullCancelRequest),
    },
    CancelResult,
  ),
  payment: route(
    {
      operationId: "GetPayment",
      tags: ["Host API"],
      summary: "The order's payment, attempts, refunds and history",
      querystring: PaymentQuerySchema,
      ...binding(),
    },
    PaymentView,
  ),
  sync: route({ operationId: "Sync", tags: ["Operations"], summary: "Ask the PG about the order now (reconciler)", body: OrderBody, ...binding() }, SyncResult),
  notifications: route(
    {
      operationId: "ListNotifications",
      tags: ["Operations"],
      summary: "The order's notifications with every delivery attempt",
      querystring: PaymentQuerySchema,
      ...binding(),
    },
    NotificationsResult,
  ),
  replay: route(
    { operationId: "ReplayNotifications", tags: ["Operations"], summary: "Send DEAD notifications again", body: ReplayBody, ...binding() },
    ReplayResult,
  ),
} satisfies Record<string, RouteShorthandOptions>;

const DOCUMENTED = /^\/(PGB\/|health\/|metrics$)/;

/** A route as the document needs it: collected when the app registers it, re-declared in the docs app. */
type DocumentedRoute = Pick<RouteOptions, "method" | "url" | "schema" | "validatorCompiler" | "serializerCompiler">;

/**
 * Serves /openapi.json and /docs. The document and its renderer (@fastify/swagger, which loads a YAML
 * library, and @fastify/swagger-ui, which loads @fastify/static) are built on the first request for
 * either, not at start, where they were a tenth of a second or more of every start: the documented
 * routes are collected as the app registers them (registered before any route, this sees them all),
 * and a private Fastify instance is made from them with the same plugins and options as before. /docs
 * answers through it (inject), so every page and file it served before it serves the same.
 */
export function registerApiDocs(app: FastifyInstance, publicUrl: string): void {
  const routes: DocumentedRoute[] = [];
  app.addHook("onRoute", (route) => {
    // HEAD routes are Fastify's copies of GET routes; the docs app makes its own (and @fastify/swagger leaves them out).
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== "HEAD");
    if (!DOCUMENTED.test(route.url) || methods.length === 0) return;
    routes.push({
      method: methods,
      url: route.url,
      schema: route.schema,
      validatorCompiler: route.validatorCompiler,
      serializerCompiler: route.serializerCompiler,
    });
  });
  let docsApp: Promise<FastifyInstance> | undefined;
  const docs = (): Promise<FastifyInstance> => {
    docsApp ??= buildDocsApp(routes, publicUrl).catch((error: unknown) => {
      docsApp = undefined; // the next request tries again
      throw error;
    });
    return docsApp;
  };
  app.get("/openapi.json", { schema: { hide: true } }, async () => (await docs()).swagger());
  const forward = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !HOP_BY_HOP.has(name))) as Record<string, string>;
    const answer = await (await docs()).inject({ method: request.method as "GET" | "HEAD", url: request.url, headers });
    // Not the docs' own page or file: PGB's not-found answer, as for any unknown path (error-handling.ts).
    if (answer.statusCode === 404) return sendResult(reply, "NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`);
    for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) void reply.header(name, value);
    return reply.code(answer.statusCode).send(answer.rawPayload.length > 0 ? answer.rawPayload : undefined);
  };
  app.get("/docs", { schema: { hide: true } }, forward);
  app.get("/docs/*", { schema: { hide: true } }, forward);
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "date", "host"]);

async function buildDocsApp(routes: readonly DocumentedRoute[], publicUrl: string): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: fastifySwagger }, { default: fastifySwaggerUi }, { createJsonSchemaTransform, jsonSchemaTransformObject }] =
    await Promise.all([import("fastify"), import("@fastify/swagger"), import("@fastify/swagger-ui"), import("fastify-type-provider-zod")]);
  const docs = Fastify({ schemaController: { compilersFactory: lazySchemaCompilers } });
  const zodTransform = createJsonSchemaTransform({ skipList: [] });
  await docs.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "PGB — the Payment Gateway Bridge",
        version: "1",
        description:
          "The host API (PayStart, PartialCancel, FullCancel, Payment), the operations API, and the notifications PGB POSTs to the host (`webhooks`). Every answer has IsSuccess, ErrorCode and ErrorMessage; the HTTP status tells the class of failure.",
      },
      servers: [{ url: publicUrl }],
      components: {
        securitySchemes: {
          apiKey: { type: "http", scheme: "bearer", description: "The tenant's API key: Authorization: Bearer <apiKey>. A key acts on its own DBType only." },
        },
      },
      security: [{ apiKey: [] }],
      tags: [
        { name: "Host API", description: "What the .NET host calls." },
        { name: "Operations", description: "For operators and scripts; same API keys." },
      ],
      webhooks: {
        notification: {
          post: {
            summary: "A notification PGB sends to the tenant's notifyUrl",
            requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/Notification" } } } },
            responses: { "200": { description: "Any 2xx acknowledges it; anything else is retried with backoff." } },
          },
        },
      },
    },
    transform: (input) => {
      if (!DOCUMENTED.test(input.url)) return { schema: { hide: true }, url: input.url };
      return zodTransform(input as Parameters<typeof zodTransform>[0]);
    },
    transformObject: (input) => {
      // The notification schema is referenced only by `webhooks`; touching it here keeps it registered.
      void NotificationBody;
      return jsonSchemaTransformObject(input);
    },
  });
  await docs.register(fastifySwaggerUi, { routePrefix: "/docs", uiConfig: { docExpansion: "list", deepLinking: true } });
  for (const route of routes) docs.route({ ...route, handler: async () => undefined });
  await docs.ready();
  return docs;
}
