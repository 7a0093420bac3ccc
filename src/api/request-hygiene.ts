/**
 * What every request goes through at the edge, whatever its route: a request id PGB can trust, one
 * access-log line per request, a deadline for receiving the body, and no NUL character in any string
 * (PostgreSQL cannot store one, so it would surface as a 500 with the failing SQL in the log).
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { IncomingMessage } from "node:http";
import { maskCardNumbers } from "../logging.ts";
import { sendResult } from "./host-result.ts";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The client's X-Request-Id when it is a short safe token (it is logged and echoed back), else a new
 * one: no markup, no spaces, nothing that looks like a card number.
 */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers["x-request-id"];
  if (typeof given === "string" && SAFE_REQUEST_ID.test(given) && maskCardNumbers(given) === given) return given;
  return randomUUID();
}

export function registerRequestHygiene(app: FastifyInstance, options: { requestTimeoutMs: number }): void {
  // Node's requestTimeout stops a slow sender of headers, not of a body (Node 20): a body still
  // arriving requestTimeoutMs after the request began is cut off here, with 408 and a closed socket.
  app.addHook("onRequest", (request, _reply, done) => {
    if (request.raw.complete) return done();
    const timer = setTimeout(() => {
      if (request.raw.complete) return;
      request.log.warn({ method: request.method, route: request.routeOptions.url ?? "(no route)" }, "request body not received in time; connection closed");
      request.raw.socket?.end("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      request.raw.socket?.destroySoon();
    }, options.requestTimeoutMs);
    timer.unref();
    request.raw.once("close", () => clearTimeout(timer));
    request.raw.once("end", () => clearTimeout(timer));
    done();
  });
  app.addHook("onSend", (request, reply, payload, done) => {
    reply.header("x-request-id", request.id);
    done(null, payload);
  });
  // Fastify's own request logging prints "req":{} with a plain pino logger; this says what matters.
  app.addHook("onResponse", (request, reply, done) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? "(no route)",
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      "request",
    );
    done();
  });
  app.addHook("preValidation", (request, reply, done) => {
    const field = nulField(request.query, "") ?? (Buffer.isBuffer(request.body) ? undefined : nulField(request.body, ""));
    if (field === undefined) return done();
    sendResult(reply, "INVALID_FIELD", `${field || "the body"} contains a NUL character`);
  });
}

/** The path of the first string (or property name) holding U+0000, if any. */
function nulField(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object" || depth > 8) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key.includes("\u0000")) return at;
    const found = nulField(item, at, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
