/**
 * The OpenAPI 3.1 document (`/openapi.json`) and its rendering for people (`/docs`, Swagger UI served
 * from the installed package, no CDN). @fastify/swagger collects the routes; fastify-type-provider-zod
 * turns their Zod schemas into JSON Schema.
 *
 * The schemas on host and operations routes document; they do not validate. Binding stays in the
 * handlers (case-insensitive, with the host's alternative spellings, and every failure answered in the
 * host's result shape), so the route options below install pass-through compilers.
 */
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifySchema, RouteShorthandOptions } from "fastify";
import { createJsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";
import { z } from "zod";
import { PaymentQuerySchema } from "../host-schemas.ts";
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
const ReplayBody = z.object({ DBType: z.string(), NotificationId: z.string().regex(/^msg_[0-9a-z]{1,64}$/).nullish(), OrderId: z.number().int().min(1).nullish() }).describe("NotificationId, or OrderId for all of the order's DEAD notifications");

export const ROUTE_DOCS = {
  payStart: route({ operationId: "PayStart", tags: ["Host API"], summary: "Start a payment: answers where to send the browser", body: PayStartWire, ...binding(BODY_ALIASES.PayStartRequest) }, PayStartResult),
  partialCancel: route({ operationId: "PartialCancel", tags: ["Host API"], summary: "Refund part of a paid order", body: PartialCancelWire, headers: IdempotencyHeaders, ...binding(BODY_ALIASES.PartialCancelRequest) }, CancelResult),
  fullCancel: route({ operationId: "FullCancel", tags: ["Host API"], summary: "Refund the whole remaining balance", body: FullCancelWire, headers: IdempotencyHeaders, ...binding(BODY_ALIASES.FullCancelRequest) }, CancelResult),
  payment: route({ operationId: "GetPayment", tags: ["Host API"], summary: "The order's payment, attempts, refunds and history", querystring: PaymentQuerySchema, ...binding() }, PaymentView),
  sync: route({ operationId: "Sync", tags: ["Operations"], summary: "Ask the PG about the order now (reconciler)", body: OrderBody, ...binding() }, SyncResult),
  notifications: route({ operationId: "ListNotifications", tags: ["Operations"], summary: "The order's notifications with every delivery attempt", querystring: PaymentQuerySchema, ...binding() }, NotificationsResult),
  replay: route({ operationId: "ReplayNotifications", tags: ["Operations"], summary: "Send DEAD notifications again", body: ReplayBody, ...binding() }, ReplayResult),
} satisfies Record<string, RouteShorthandOptions>;

const DOCUMENTED = /^\/(PGB\/|health\/|metrics$)/;

/** Registers the collector before any route exists, and serves /openapi.json and /docs. */
export async function registerApiDocs(app: FastifyInstance, publicUrl: string): Promise<void> {
  const zodTransform = createJsonSchemaTransform({ skipList: [] });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "PGB — the Payment Gateway Bridge",
        version: "1",
        description:
          "The host API (PayStart, PartialCancel, FullCancel, Payment), the operations API, and the notifications PGB POSTs to the host (`webhooks`). Every answer has IsSuccess, ErrorCode and ErrorMessage; the HTTP status tells the class of failure.",
      },
      servers: [{ url: publicUrl }],
      components: { securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "The tenant's API key: Authorization: Bearer <apiKey>. A key acts on its own DBType only." } } },
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
  await app.register(fastifySwaggerUi, { routePrefix: "/docs", uiConfig: { docExpansion: "list", deepLinking: true } });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
