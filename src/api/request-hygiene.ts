/**
 * What every request goes through at the edge, whatever its route: a request id PGB can trust, one
 * access-log line per request, a deadline for receiving the body, and no NUL character in any string
 * (PostgreSQL cannot store one, so it would surface as a 500 with the failing SQL in the log).
 */
import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
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
  const bodyDeadline = bodyDeadlineOf(options.requestTimeoutMs);
  app.addHook("onRequest", (request, _reply, done) => {
    bodyDeadline(request);
    done();
  });
  app.addHook("onSend", (request, reply, payload, done) => {
    reply.header("x-request-id", request.id);
    done(null, payload);
  });
  // Fastify's own request logging prints "req":{} with a plain pino logger; this says what matters.
  app.addHook("onResponse", (request, reply, done) => {
    if (infoEnabled(request.log)) {
      request.log.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? "(no route)",
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
        },
        "request",
      );
    }
    done();
  });
  app.addHook("preValidation", (request, reply, done) => {
    const field = nulField(request.query, "") ?? (Buffer.isBuffer(request.body) ? undefined : nulField(request.body, ""));
    if (field === undefined) return done();
    sendResult(reply, "INVALID_FIELD", `${field || "the body"} contains a NUL character`);
  });
}

/** Whether an info line would be written: the access line is not even built when not (pino says; another logger is asked to write). */
function infoEnabled(log: FastifyBaseLogger): boolean {
  const isLevelEnabled = (log as Partial<Logger>).isLevelEnabled;
  return typeof isLevelEnabled !== "function" || isLevelEnabled.call(log, "info");
}

/**
 * Node's requestTimeout stops a slow sender of headers, not of a body (Node 20): a body still
 * arriving requestTimeoutMs after the request began is cut off here, with 408 and a closed socket.
 * A body that came in the headers' packet is complete once the parser has run on: requests are
 * looked at again in a batch after that (one setImmediate for all), and only one still receiving its
 * body gets a timer, for what is left of its time.
 */
function bodyDeadlineOf(requestTimeoutMs: number): (request: FastifyRequest) => void {
  let waiting: Array<{ request: FastifyRequest; startedMs: number }> = [];
  const checkBatch = () => {
    const batch = waiting;
    waiting = [];
    for (const { request, startedMs } of batch) {
      if (!request.raw.complete && !request.raw.destroyed) armTimer(request, requestTimeoutMs - (performance.now() - startedMs));
    }
  };
  return (request) => {
    if (request.raw.complete) return;
    if (waiting.length === 0) setImmediate(checkBatch);
    waiting.push({ request, startedMs: performance.now() });
  };
}

function armTimer(request: FastifyRequest, remainingMs: number): void {
  const timer = setTimeout(
    () => {
      if (request.raw.complete) return;
      request.log.warn({ method: request.method, route: request.routeOptions.url ?? "(no route)" }, "request body not received in time; connection closed");
      request.raw.socket?.end("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      request.raw.socket?.destroySoon();
    },
    Math.max(0, remainingMs),
  );
  timer.unref();
  request.raw.once("close", () => clearTimeout(timer));
  request.raw.once("end", () => clearTimeout(timer));
}

/** The path of the first string (or property name) holding U+0000, if any. */
function nulField(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object" || depth > 8) return undefined;
  // Runs on every request: no arrays of entries, and a path is only built for a hit or a nested object.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (key.includes("\u0000")) return path ? `${path}.${key}` : key;
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === "string") {
      if (item.includes("\u0000")) return path ? `${path}.${key}` : key;
      continue;
    }
    if (item === null || typeof item !== "object") continue;
    const found = nulField(item, path ? `${path}.${key}` : key, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
